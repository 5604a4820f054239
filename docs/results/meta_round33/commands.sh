#!/usr/bin/env bash
# Round 33 (README "Round 33"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after round 32's commands.sh (same scenes, same common start START, its twice-the-budget arms of seeds 155-157).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round33

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
zs() { arm 40 foresplat "zs2x$1" "$1" 5.986e-5 3e-5; }
mk() { arm 40 foresplat-metagrad "m1k2x$1" "$1" 1.796e-4 9e-5 --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 2.5; }

# 1. Two more pairs at twice the budget (seeds 158/159): four arms at once for 40 minutes on two cores, 20
#    core-minutes each, as round 32's seeds 155/156.
for S in 158 159; do zs $S & mk $S & done
wait

# 2. A fifth pair (seed 160), its two arms for 40 minutes beside the two benchmarks of seed 158 (four processes
#    on two cores, the same 20 core-minutes), then the four remaining benchmarks at once.
zs 160 & mk 160 &
bench v4r33_zs2x158 zs2x158 r/zs2x158/foresplat/foresplat/run &
bench v4r33_m1k2x158 m1k2x158 r/m1k2x158/foresplat/foresplat-metagrad/run &
wait
for S in 159 160; do
  bench "v4r33_zs2x$S" "zs2x$S" "r/zs2x$S/foresplat/foresplat/run" &
  bench "v4r33_m1k2x$S" "m1k2x$S" "r/m1k2x$S/foresplat/foresplat-metagrad/run" &
done
wait

# 3. Comparisons: the new pairs, and all pairs at twice the budget with round 32's three.
B=""
for S in 155 156 157; do B="$B bench/v4r32_zs2x$S:zs2x$S=z2$S bench/v4r32_m1k2x$S:m1k2x$S=m2$S"; done
for S in 158 159 160; do B="$B bench/v4r33_zs2x$S:zs2x$S=z2$S bench/v4r33_m1k2x$S:m1k2x$S=m2$S"; done
foresplat-compare --results $B --pairs z2158:m2158 z2159:m2159 z2160:m2160 --out $R/new_pairs > $R/new_pairs.txt
foresplat-compare --results $B --pairs z2155:m2155 z2156:m2156 z2157:m2157 z2158:m2158 z2159:m2159 z2160:m2160 \
  --out $R/six_pairs > $R/six_pairs.txt
