#!/usr/bin/env bash
# Round 30 (README "Round 30"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 27-29's commands.sh (same scenes, same common start START, their zero-step, MetaGrad and IFT arms).
set -euo pipefail
START=r/base/foresplat/foresplat/run

bench() {  # bench OUT NAME RUN [flags]
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" "$@"
}
arm() {  # arm NAME SEED LR LR_FINAL [flags]: a 15-minute IFT fine-tune from START, one thread, three arms at a time
  local name=$1 seed=$2 lr=$3 lrf=$4; shift 4
  OMP_NUM_THREADS=1 ns-train foresplat --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes 15 \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 \
    --pipeline.meta.mode ift --pipeline.meta.inner-steps 10 --pipeline.meta.inner.lr-scale 5 \
    --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1 \
    --pipeline.meta.ift.group-scales.log-scales 0.01 --pipeline.meta.ift.group-scales.quats 0.05 "$@"
}
HIGH="1.796e-4 9e-5"   # MetaGrad's and round 29's rate
LOW="5.986e-5 3e-5"    # zero-step's rate
LEARNED="--pipeline.meta.ift.lambda-min 1e-5"
FIXED="--pipeline.meta.ift.lambda-min 1.46e-5 --pipeline.meta.ift.lambda-max 1.46e-5"  # round 29's learned λ, fixed

# 1. Screen, seed 155, one change each to round 29's is5v155: step-0 weight 0.5; zero-step's rate; 10 CG iterations.
arm p0v155 155 $HIGH $LEARNED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.5 &
arm plv155 155 $LOW $LEARNED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.25 &
arm pcv155 155 $HIGH $LEARNED --pipeline.meta.ift.cg-iterations 10 --pipeline.meta.step0-weight 0.25 &
wait
for N in p0v155 plv155 pcv155; do bench v4r30_$N $N "r/$N/foresplat/foresplat/run" --steps 0 25 100 250 500 & done
wait

# 2. λ fixed at the value round 29's networks learned (no gradient through the confidence head); zero-step's rate with
#    10 CG iterations; both.
arm flv155 155 $HIGH $FIXED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.25 &
arm lcv155 155 $LOW $LEARNED --pipeline.meta.ift.cg-iterations 10 --pipeline.meta.step0-weight 0.25 &
arm flcv155 155 $LOW $FIXED --pipeline.meta.ift.cg-iterations 10 --pipeline.meta.step0-weight 0.25 &
wait
for N in flv155 lcv155 flcv155; do bench v4r30_$N $N "r/$N/foresplat/foresplat/run" --steps 0 25 100 250 500 & done
wait

# 3. λ fixed as in 2 on seeds 156 and 157; and λ learned with the confidence head on detached features
#    (--pipeline.meta.ift.confidence-gradient head), seed 155.
arm flv156 156 $HIGH $FIXED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.25 &
arm flv157 157 $HIGH $FIXED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.25 &
arm dhv155 155 $HIGH $LEARNED --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.step0-weight 0.25 \
  --pipeline.meta.ift.confidence-gradient head &
wait
for N in flv156 flv157 dhv155; do bench v4r30_$N $N "r/$N/foresplat/foresplat/run" --steps 0 25 100 250 500 & done
wait

# 4. How much the learned λ varies between Gaussians (held-out scenes, 4 context views).
python benchmarks/lambda_spread.py --scenes heldout16 --runs is5v155=r/is5v155/foresplat/foresplat/run \
  is5v157=r/is5v157/foresplat/foresplat/run ift5v157=r/ift5v157/foresplat/foresplat/run \
  dhv155=r/dhv155/foresplat/foresplat/run > docs/results/meta_round30/lambda_spread.txt
