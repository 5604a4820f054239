#!/usr/bin/env bash
# Round 40 (README "Round 40"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after docs/results/meta_round38/commands.sh: its scenes (big-v1, heldout16), its common start and its benchmark of
# zero-step at twice the budget (bench/v4r38_zs2x155) are reused.
set -euo pipefail
R=docs/results/meta_round40
START=r/base/foresplat/foresplat/run

arm() {  # arm MINUTES METHOD NAME SEED LR LR_FINAL [flags]: a fine-tune from START, one thread
  local min=$1 method=$2 name=$3 seed=$4 lr=$5 lrf=$6; shift 6
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes "$min" \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 "$@"
}
bench() {  # bench OUT NAME RUN: the 4-view benchmark to 1000 steps, with round 34's finer steps
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" \
    --steps 0 10 25 50 100 150 200 250 300 350 375 400 450 500 625 750 875 1000 "$@"
}
M10="--pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 10"

# 1. Four times the budget as 40 core-minutes each: three arms at once for 60 minutes on two cores (round 36 ran
#    four at once for 80). MetaGrad with round 35's anchor (K=30 at 10x, anchor at K), the network's rate decayed
#    2x over the budget as in round 36 (`m4x`) and 10x (`md4x`); zero-step with the same 10x decay (`zsd4x`).
arm 60 foresplat-metagrad m4x155 155 1.796e-4 9e-5 $M10 &
arm 60 foresplat-metagrad md4x155 155 1.796e-4 1.796e-5 $M10 &
arm 60 foresplat zsd4x155 155 5.986e-5 5.986e-6 &
wait

# 2. The three benchmarks at once, to 1000 steps.
bench v4r40_m4x155 m4x155 r/m4x155/foresplat/foresplat-metagrad/run &
bench v4r40_md4x155 md4x155 r/md4x155/foresplat/foresplat-metagrad/run &
bench v4r40_zsd4x155 zsd4x155 r/zsd4x155/foresplat/foresplat/run &
wait

# 3. Comparisons: each MetaGrad network against zero-step with the same budget (`four_times`); the two decays against
#    each other; all three against round 38's zero-step network at twice the budget (40 minutes, four arms at once,
#    round 36's 2x decay; benchmarked to 500 steps).
B="bench/v4r40_m4x155 bench/v4r40_md4x155 bench/v4r40_zsd4x155 bench/v4r38_zs2x155"
foresplat-compare --results $B --pairs zsd4x155:md4x155 zsd4x155:m4x155 --out $R/four_times > $R/four_times.txt
foresplat-compare --results $B --pairs m4x155:md4x155 > $R/decay_10x_vs_2x.txt
foresplat-compare --results $B --pairs zs2x155:md4x155 zs2x155:m4x155 zs2x155:zsd4x155 > $R/against_zero_step_40min.txt

# 4. A second draw of context and target views (--seed 1) to 100 steps, one network at a time.
b1() { foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --seed 1 --steps 0 25 100 --out "bench/$1" --starts "$2=$3"; }
b1 v4r40_seed1_m4x155 m4x155 r/m4x155/foresplat/foresplat-metagrad/run
b1 v4r40_seed1_zsd4x155 zsd4x155 r/zsd4x155/foresplat/foresplat/run
b1 v4r40_seed1_md4x155 md4x155 r/md4x155/foresplat/foresplat-metagrad/run
foresplat-compare --results bench/v4r40_seed1_m4x155 bench/v4r40_seed1_md4x155 bench/v4r40_seed1_zsd4x155 \
  --pairs zsd4x155:m4x155 zsd4x155:md4x155 m4x155:md4x155 --out $R/views1 > $R/views1.txt
