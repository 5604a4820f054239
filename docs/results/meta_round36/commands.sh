#!/usr/bin/env bash
# Round 36 (README "Round 36"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 32-35's commands.sh (same scenes, same common start START, their networks and benchmarks).
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round36

bench() {  # bench OUT NAME RUN: the 4-view benchmark to 1000 steps, with round 34's finer steps
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

# 1. Four times the budget: four arms at once for 80 minutes on two cores (40 core-minutes each), as round 34's:
#    MetaGrad with round 35's anchor (K=30 at 10x, anchor at K) for seeds 155/156/157, zero-step for seed 157
#    (round 34 trained zero-step's 155/156).
for S in 155 156 157; do
  arm 80 foresplat-metagrad "m10x4x$S" "$S" 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 10 &
done
arm 80 foresplat zs4x157 157 5.986e-5 3e-5 &
wait

# 2. The four benchmarks at once.
for S in 155 156 157; do
  bench "v4r36_m10x4x$S" "m10x4x$S" "r/m10x4x$S/foresplat/foresplat-metagrad/run" &
done
bench v4r36_zs4x157 zs4x157 r/zs4x157/foresplat/foresplat/run &
wait

# 3. Comparisons: the pairs at four times the budget; each method's networks at 80 against 40 minutes (rounds 32
#    and 35); round 34's MetaGrad at four times the budget (K=30 at 2.5x, seeds 155/156).
B="bench/v4r36_zs4x157:zs4x157=z4157"
for S in 155 156; do B="$B bench/v4r34_zs4x$S:zs4x$S=z4$S bench/v4r34_m1k4x$S:m1k4x$S=k4$S"; done
for S in 155 156 157; do
  B="$B bench/v4r36_m10x4x$S:m10x4x$S=t4$S bench/v4r35_m10x2x$S:m10x2x$S=t2$S bench/v4r32_zs2x$S:zs2x$S=z2$S"
done
foresplat-compare --results $B --pairs z4155:t4155 z4156:t4156 z4157:t4157 --out $R/four_times > $R/four_times.txt
foresplat-compare --results $B --pairs t2155:t4155 t2156:t4156 t2157:t4157 > $R/metagrad_80_vs_40.txt
foresplat-compare --results $B --pairs z2155:z4155 z2156:z4156 z2157:z4157 > $R/zero_step_80_vs_40.txt
foresplat-compare --results $B --pairs k4155:t4155 k4156:t4156 > $R/m10x_vs_m1k_80min.txt
