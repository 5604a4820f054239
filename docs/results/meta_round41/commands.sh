#!/usr/bin/env bash
# Round 41 (README "Round 41"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after docs/results/meta_round40/commands.sh: its scenes (big-v1, heldout16), its common start and its benchmarks
# (bench/v4r40_m4x155, bench/v4r40_md4x155, bench/v4r40_zsd4x155 and their --seed 1 draws) are reused.
set -euo pipefail
R=docs/results/meta_round41
START=r/base/foresplat/foresplat/run

arm() {  # arm STEPS METHOD NAME SEED LR LR_FINAL [flags]: a fine-tune from START for STEPS trainer iterations, one
  # thread, the network's rate decayed over those iterations (step-based, so sharing the CPU does not change the run)
  local steps=$1 method=$2 name=$3 seed=$4 lr=$5 lrf=$6; shift 6
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes None \
    --optimizers.initializer.optimizer.lr "$lr" --optimizers.initializer.scheduler.lr-final "$lrf" \
    --optimizers.initializer.scheduler.warmup-steps 20 --optimizers.initializer.scheduler.max-steps "$steps" \
    --max-num-iterations "$steps" --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 "$@"
}
S="0 10 25 50 100 150 200 250 300 350 375 400 450 500"
bench() {  # bench OUT NAME RUN STEPS...: the 4-view benchmark
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" --steps "$@"
}
M10="--pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 10"

# 1. Three arms at once on two cores, each with the update count of its round-40 counterpart:
#    zero-step with round 36's 2x decay for zsd4x155's 3341 updates (`zs4x`); MetaGrad (round 35's anchor) at a
#    constant rate for m4x155's 573 updates (`mc4x`); MetaGrad with m4x155's 2x decay and a meta-batch of two scenes
#    per update (nerfstudio's gradient accumulation) for 573 trainer iterations, i.e. 286 updates (`mb4x`).
arm 3341 foresplat zs4x155 155 5.986e-5 2.993e-5 &
arm 573 foresplat-metagrad mc4x155 155 1.796e-4 1.796e-4 $M10 &
arm 573 foresplat-metagrad mb4x155 155 1.796e-4 9e-5 $M10 --gradient-accumulation-steps initializer 2 &
wait

# 2. Benchmarks: zero-step and the constant rate to 1000 steps, the meta-batch to 500.
bench v4r40_zs4x155 zs4x155 r/zs4x155/foresplat/foresplat/run $S 625 750 875 1000 &
bench v4r41_mc4x155_1000 mc4x155 r/mc4x155/foresplat/foresplat-metagrad/run $S 625 750 875 1000 &
wait
bench v4r41_mb4x155 mb4x155 r/mb4x155/foresplat/foresplat-metagrad/run $S

# 3. Comparisons: every four-times network against zero-step with its own 2x decay (`four_times`); the constant rate
#    and the meta-batch against round 40's 2x decay; zero-step's 2x decay against its 10x decay and its 40-minute network.
B="bench/v4r40_zs4x155 bench/v4r40_m4x155 bench/v4r41_mc4x155_1000 bench/v4r41_mb4x155 bench/v4r40_md4x155 bench/v4r40_zsd4x155 bench/v4r38_zs2x155"
foresplat-compare --results $B --pairs zs4x155:mc4x155 zs4x155:m4x155 zs4x155:md4x155 zs4x155:mb4x155 --out $R/four_times > $R/four_times.txt
foresplat-compare --results $B --pairs m4x155:mc4x155 m4x155:mb4x155 > $R/rate_and_batch.txt
foresplat-compare --results $B --pairs zsd4x155:zs4x155 zs2x155:zs4x155 > $R/zero_step_decay.txt
# (with the meta-batch's 500 steps in the results every table stops at 500: the constant rate to 1000 on its own)
foresplat-compare --results bench/v4r40_zs4x155 bench/v4r40_m4x155 bench/v4r41_mc4x155_1000 --pairs zs4x155:mc4x155 m4x155:mc4x155 \
  > $R/constant_rate_to_1000.txt

# 4. A second draw of context and target views (--seed 1) to 100 steps, one network at a time.
b1() { foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --seed 1 --steps 0 25 100 --out "bench/$1" --starts "$2=$3"; }
b1 v4r41_seed1_mb4x155 mb4x155 r/mb4x155/foresplat/foresplat-metagrad/run
b1 v4r41_seed1_zs4x155 zs4x155 r/zs4x155/foresplat/foresplat/run
b1 v4r41_seed1_mc4x155 mc4x155 r/mc4x155/foresplat/foresplat-metagrad/run
foresplat-compare --results bench/v4r41_seed1_zs4x155 bench/v4r41_seed1_mc4x155 bench/v4r41_seed1_mb4x155 \
  bench/v4r40_seed1_m4x155 bench/v4r40_seed1_md4x155 bench/v4r40_seed1_zsd4x155 \
  --pairs zs4x155:mc4x155 zs4x155:m4x155 zs4x155:md4x155 zs4x155:mb4x155 m4x155:mc4x155 m4x155:mb4x155 zsd4x155:zs4x155 \
  --out $R/views1 > $R/views1.txt
