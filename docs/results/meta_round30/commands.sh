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

# 5. Comparisons (the zero-step, MetaGrad and round 29 IFT benchmarks of rounds 27-29).
R=docs/results/meta_round30
B="bench/v4r27_zs4v155:zero-step=zs155 bench/v4r27_zs4v156:zero-step=zs156 bench/v4r28_zs4v157:zero-step=zs157"
B="$B bench/v4r27_mg4v155:metagrad=mg155 bench/v4r27_mg4v156:metagrad=mg156 bench/v4r28_mg4v157:metagrad=mg157"
for S in 155 156 157; do B="$B bench/v4r29_is5v$S:is5v$S=is$S"; done
for N in p0v155 plv155 pcv155 flv155 lcv155 flcv155 flv156 flv157 dhv155; do B="$B bench/v4r30_$N:$N=$N"; done
foresplat-compare --results $B --pairs is155:p0v155 is155:plv155 is155:pcv155 is155:flv155 is155:lcv155 is155:flcv155 \
  is155:dhv155 > $R/screen_vs_round29.txt
foresplat-compare --results $B --pairs zs155:p0v155 zs155:plv155 zs155:pcv155 zs155:flv155 zs155:lcv155 zs155:flcv155 \
  zs155:dhv155 > $R/screen_vs_zero_step.txt
foresplat-compare --results $B --pairs zs155:flv155 zs156:flv156 zs157:flv157 --out $R/fixed > $R/fixed.txt
foresplat-compare --results $B --pairs is155:flv155 is156:flv156 is157:flv157 > $R/fixed_vs_learned.txt
foresplat-compare --results $B --pairs mg155:flv155 mg156:flv156 mg157:flv157 > $R/fixed_vs_metagrad.txt

# 6. The zero-step networks refined to 1000 steps with a fixed term on the colours only (round 29's learned λ, fixed),
#    against the same networks without it (rounds 27-28).
for S in 155 156 157; do
  bench v4r30_zs4v${S}_colours zero-step "r/zs4v$S/foresplat/foresplat/run" --steps 0 100 500 750 1000 \
    --proximal-lambda 1.46e-5 --proximal-groups sh_dc sh_rest &
done
wait
for S in 155 156 157; do B="$B bench/v4r30_zs4v${S}_colours:zero-step=zc$S"; done
foresplat-compare --results $B --pairs zs155:zc155 zs156:zc156 zs157:zc157 --out $R/colour_term > $R/colour_term_zero_step.txt
