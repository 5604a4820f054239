#!/usr/bin/env bash
# Round 32 (README "Round 32"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 27-31's commands.sh (same scenes, same common start START, their zero-step and MetaGrad arms).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round32

bench() {  # bench OUT NAME RUN [flags]: the 4-view benchmark to 1000 steps
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" \
    --steps 0 10 25 50 100 200 250 300 400 500 750 1000 "$@"
}
arm() {  # arm MINUTES METHOD NAME SEED LR LR_FINAL [flags]: a fine-tune from START, one thread
  local min=$1 method=$2 name=$3 seed=$4 lr=$5 lrf=$6; shift 6
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes "$min" \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 "$@"
}

# 1. Twice the budget: four arms at once for 40 minutes on two cores (20 core-minutes each; rounds 27-31's arms
#    ran three at once for 15 minutes, 10 core-minutes). Zero-step at its rate, MetaGrad as the foresplat-metagrad
#    preset with its anchor at K only (round 31's m1k) at MetaGrad's rate.
for S in 155 156; do
  arm 40 foresplat "zs2x$S" "$S" 5.986e-5 3e-5 &
  arm 40 foresplat-metagrad "m1k2x$S" "$S" 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 2.5 &
done
wait

# 2. Round 31's m1k networks (15 minutes) and the new ones, refined to 1000 steps.
for S in 155 156 157; do bench "v4r32_m1k${S}_1000" "m1k$S" "r/m1k$S/foresplat/foresplat-metagrad/run" & done
bench v4r32_zs2x155 zs2x155 r/zs2x155/foresplat/foresplat/run &
wait
bench v4r32_zs2x156 zs2x156 r/zs2x156/foresplat/foresplat/run &
for S in 155 156; do bench "v4r32_m1k2x$S" "m1k2x$S" "r/m1k2x$S/foresplat/foresplat-metagrad/run" & done
wait

# 3. A third pair at twice the budget (seed 157): two arms at once for 20 minutes, the same 20 core-minutes each.
arm 20 foresplat zs2x157 157 5.986e-5 3e-5 &
arm 20 foresplat-metagrad m1k2x157 157 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 2.5 &
wait
bench v4r32_zs2x157 zs2x157 r/zs2x157/foresplat/foresplat/run &
bench v4r32_m1k2x157 m1k2x157 r/m1k2x157/foresplat/foresplat-metagrad/run &
wait

# 4. Comparisons (zero-step's and MetaGrad's benchmarks of rounds 27-28 to 1000 steps).
B="bench/v4r27_zs4v155:zero-step=zs155 bench/v4r27_zs4v156:zero-step=zs156 bench/v4r28_zs4v157:zero-step=zs157"
B="$B bench/v4r27_mg4v155:metagrad=mg155 bench/v4r27_mg4v156:metagrad=mg156 bench/v4r28_mg4v157:metagrad=mg157"
for S in 155 156 157; do
  B="$B bench/v4r32_m1k${S}_1000:m1k$S=m1$S bench/v4r32_zs2x$S:zs2x$S=z2$S bench/v4r32_m1k2x$S:m1k2x$S=m2$S"
done
foresplat-compare --results $B --pairs zs155:m1155 zs156:m1156 zs157:m1157 --out $R/mg_k_only_vs_zero_step_1000 \
  > $R/mg_k_only_vs_zero_step_1000.txt
foresplat-compare --results $B --pairs mg155:m1155 mg156:m1156 mg157:m1157 > $R/mg_k_only_vs_metagrad_1000.txt
foresplat-compare --results $B --pairs z2155:m2155 z2156:m2156 --out $R/twice_budget > $R/twice_budget.txt
foresplat-compare --results $B --pairs z2155:m2155 z2156:m2156 z2157:m2157 --out $R/twice_budget_three \
  > $R/twice_budget_three.txt
foresplat-compare --results $B --pairs zs155:z2155 zs156:z2156 > $R/twice_budget_zero_step.txt
foresplat-compare --results $B --pairs m1155:m2155 m1156:m2156 > $R/twice_budget_metagrad.txt
foresplat-compare --results $B --pairs zs155:m2155 zs156:m2156 > $R/twice_budget_metagrad_vs_zero_step_15min.txt
