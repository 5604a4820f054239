#!/usr/bin/env bash
# Round 35 (README "Round 35"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 32-34's commands.sh (same scenes, same common start START, round 32's twice-the-budget arms).
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round35

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

# 1. Later anchors at twice the budget (seeds 155/156): four arms at once for 40 minutes on two cores, as round 32's.
#    m10x: K=30 at 10x splatfacto's rates, anchor at K (about 300 benchmark steps; the same cost as round 32's m1k2x).
#    k100x: K=100 at 2.5x, anchors at inner steps 30 and 100 (about 75 and 250 benchmark steps), 3.2x the cost.
for S in 155 156; do
  arm 40 foresplat-metagrad "m10x2x$S" "$S" 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 10 &
  arm 40 foresplat-metagrad "k100x2x$S" "$S" 1.796e-4 9e-5 --pipeline.meta.inner-steps 100 \
    --pipeline.meta.anchor-steps 30 100 &
done
wait

# 2. The four benchmarks at once.
for S in 155 156; do
  bench "v4r35_m10x2x$S" "m10x2x$S" "r/m10x2x$S/foresplat/foresplat-metagrad/run" &
  bench "v4r35_k100x2x$S" "k100x2x$S" "r/k100x2x$S/foresplat/foresplat-metagrad/run" &
done
wait

# 3. A third pair (seed 157): the two arms at once for 20 minutes, the same 20 core-minutes each (as round 32's seed
#    157), then their two benchmarks at once.
arm 20 foresplat-metagrad m10x2x157 157 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 10 &
arm 20 foresplat-metagrad k100x2x157 157 1.796e-4 9e-5 --pipeline.meta.inner-steps 100 --pipeline.meta.anchor-steps 30 100 &
wait
bench v4r35_m10x2x157 m10x2x157 r/m10x2x157/foresplat/foresplat-metagrad/run &
bench v4r35_k100x2x157 k100x2x157 r/k100x2x157/foresplat/foresplat-metagrad/run &
wait

# 4. Comparisons against round 32's zero-step (zs2x) and MetaGrad (m1k2x: K=30 at 2.5x) networks of the same seeds
#    and budget, and against round 34's zero-step networks at four times the budget (zs4x, seeds 155/156).
B=""
for S in 155 156 157; do
  B="$B bench/v4r32_zs2x$S:zs2x$S=z$S bench/v4r32_m1k2x$S:m1k2x$S=m$S"
  B="$B bench/v4r35_m10x2x$S:m10x2x$S=t$S bench/v4r35_k100x2x$S:k100x2x$S=k$S"
done
for S in 155 156; do B="$B bench/v4r34_zs4x$S:zs4x$S=y$S"; done
foresplat-compare --results $B --pairs z155:t155 z156:t156 z157:t157 --out $R/m10x_vs_zero_step > $R/m10x_vs_zero_step.txt
foresplat-compare --results $B --pairs z155:k155 z156:k156 z157:k157 --out $R/k100x_vs_zero_step > $R/k100x_vs_zero_step.txt
foresplat-compare --results $B --pairs m155:t155 m156:t156 m157:t157 > $R/m10x_vs_m1k.txt
foresplat-compare --results $B --pairs m155:k155 m156:k156 m157:k157 > $R/k100x_vs_m1k.txt
foresplat-compare --results $B --pairs y155:t155 y156:t156 --out $R/m10x_vs_zero_step_80min > $R/m10x_vs_zero_step_80min.txt
