#!/usr/bin/env bash
# Round 34 (README "Round 34"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 32-33's commands.sh (same scenes, same common start START, their twice-the-budget arms).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round34

bench() {  # bench OUT NAME RUN: the 4-view benchmark to 1000 steps, recording steps between round 33's as well
  local out=$1 name=$2 run=$3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" \
    --steps 0 10 25 50 100 150 200 250 300 350 375 400 450 500 625 750 875 1000
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

# 1. Four times the budget (seeds 155/156): four arms at once for 80 minutes on two cores, 40 core-minutes each,
#    the learning rate decaying over the budget as before.
for S in 155 156; do
  arm 80 foresplat "zs4x$S" "$S" 5.986e-5 3e-5 &
  arm 80 foresplat-metagrad "m1k4x$S" "$S" 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 2.5 &
done
wait

# 2. The four benchmarks at once.
for S in 155 156; do
  bench "v4r34_zs4x$S" "zs4x$S" "r/zs4x$S/foresplat/foresplat/run" &
  bench "v4r34_m1k4x$S" "m1k4x$S" "r/m1k4x$S/foresplat/foresplat-metagrad/run" &
done
wait

# 3. Comparisons: the pairs at four times the budget; each method's networks at 80 against 40 minutes; zero-step's
#    and MetaGrad's 15-minute networks of rounds 27 and 32 for the budget's trend.
B=""
for S in 155 156; do
  B="$B bench/v4r32_zs2x$S:zs2x$S=z2$S bench/v4r32_m1k2x$S:m1k2x$S=m2$S"
  B="$B bench/v4r34_zs4x$S:zs4x$S=z4$S bench/v4r34_m1k4x$S:m1k4x$S=m4$S"
  B="$B bench/v4r27_zs4v$S:zero-step=zs$S bench/v4r32_m1k${S}_1000:m1k$S=m1$S"
done
foresplat-compare --results $B --pairs z4155:m4155 z4156:m4156 --out $R/four_times > $R/four_times.txt
foresplat-compare --results $B --pairs z2155:z4155 z2156:z4156 > $R/zero_step_80_vs_40.txt
foresplat-compare --results $B --pairs m2155:m4155 m2156:m4156 > $R/metagrad_80_vs_40.txt
foresplat-compare --results $B --pairs zs155:m1155 zs156:m1156 z2155:m2155 z2156:m2156 z4155:m4155 z4156:m4156 \
  --out $R/budget > $R/budget.txt
