#!/usr/bin/env bash
# Round 28 (README "Round 28"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after round 27's commands.sh (same scenes, same common start START, its zero-step and MetaGrad arms of seeds 155/156).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run

arm() {  # arm NAME METHOD SEED LR LR_FINAL [flags]: a 15-minute fine-tune from START, one thread
  local name=$1 method=$2 seed=$3 lr=$4 lrf=$5; shift 5
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes 15 \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" "$@"
}
# The hybrid: the MetaGrad preset's inner loop (K=30 at 2.5x, anchors {0, one sampled, K}) in IFT mode, the implicit
# gradient taking anchor K's place, with a low λ range (h6) or round 26's floor (h5). Three arms side by side.
HYBRID="--pipeline.meta.mode ift --pipeline.meta.ift.first-order-anchors True --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1"
arm h6v155 foresplat-metagrad 155 1.796e-4 9e-5 $HYBRID --pipeline.meta.ift.lambda-min 1e-6 --pipeline.meta.ift.lambda-max 1e-4 --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 &
arm h6v156 foresplat-metagrad 156 1.796e-4 9e-5 $HYBRID --pipeline.meta.ift.lambda-min 1e-6 --pipeline.meta.ift.lambda-max 1e-4 --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 &
arm h5v155 foresplat-metagrad 155 1.796e-4 9e-5 $HYBRID --pipeline.meta.ift.lambda-min 1e-5 --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 &
wait
# A third seed: zero-step, MetaGrad (preset) and IFT as round 26 trained it (λ learned, floored at 1e-5), side by side.
arm zs4v157 foresplat 157 5.986e-5 3e-5 &
arm mg4v157 foresplat-metagrad 157 1.796e-4 9e-5 --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 &
arm ift5v157 foresplat 157 1.796e-4 9e-5 --pipeline.meta.mode ift --pipeline.meta.inner-steps 10 \
  --pipeline.meta.inner.lr-scale 5 --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.ift.hessian-views 2 \
  --pipeline.meta.ift.diagonal-samples 1 --pipeline.meta.step0-weight 0.25 --pipeline.meta.ift.lambda-min 1e-5 &
wait

bench() {  # bench OUT NAME RUN [flags]
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" "$@"
}
STEPS="--steps 0 10 25 50 100 200 250 300 400 500 750 1000"
for A in h6v155 h6v156 h5v155 ift5v157; do bench "v4r28_$A" $A "$(ls -d r/$A/foresplat/*/run)" $STEPS; done
bench v4r28_zs4v157 zero-step "$(ls -d r/zs4v157/foresplat/*/run)" $STEPS
bench v4r28_mg4v157 metagrad "$(ls -d r/mg4v157/foresplat/*/run)" $STEPS
for A in h6v155 h6v156 ift5v157; do
  bench "v4r28_${A}_noterm" $A "$(ls -d r/$A/foresplat/*/run)" --steps 0 25 100 250 500 --no-proximal
done
for A in h6v155 h6v156; do  # the same to 1000 steps (a second folder; foresplat-compare merges them)
  bench "v4r28_${A}_noterm_late" $A "$(ls -d r/$A/foresplat/*/run)" --steps 750 1000 --no-proximal
done

R=docs/results/meta_round28
B=""; for S in 155 156; do B="$B bench/v4r27_zs4v$S:zero-step=zs$S bench/v4r27_mg4v$S:metagrad=mg$S bench/v4r28_h6v$S:h6v$S=h6$S"; done
B="$B bench/v4r28_h5v155:h5v155=h5155 bench/v4r28_zs4v157:zero-step=zs157 bench/v4r28_mg4v157:metagrad=mg157"
B="$B bench/v4r28_ift5v157:ift5v157=ift157"
N="bench/v4r28_h6v155_noterm:h6v155=n155 bench/v4r28_h6v156_noterm:h6v156=n156 bench/v4r28_ift5v157_noterm:ift5v157=nift157"
foresplat-compare --results $B --pairs zs155:h6155 zs156:h6156 --out $R/hybrid > $R/hybrid.txt
foresplat-compare --results $B --pairs zs155:h6155 zs156:h6156 --key ssim > $R/hybrid_ssim.txt
foresplat-compare --results $B --pairs mg155:h6155 mg156:h6156 > $R/hybrid_vs_mg.txt
foresplat-compare --results $B --pairs zs155:h5155 h6155:h5155 > $R/floor.txt
L="bench/v4r28_h6v155_noterm_late:h6v155=n155 bench/v4r28_h6v156_noterm_late:h6v156=n156"
foresplat-compare --results $B $N $L --pairs n155:h6155 n156:h6156 > $R/term_cost.txt
foresplat-compare --results $B $N $L --pairs zs155:n155 zs156:n156 > $R/hybrid_noterm.txt
foresplat-compare --results $B $N --pairs zs155:n155 zs156:n156 zs157:nift157 > $R/noterm.txt
foresplat-compare --results $B --pairs zs157:mg157 zs157:ift157 --out $R/seed157 > $R/seed157.txt
foresplat-compare --results $B --pairs zs157:mg157 --key ssim > $R/seed157_ssim.txt
foresplat-compare --results $B $N --pairs nift157:ift157 > $R/ift_term_cost.txt
foresplat-compare --results $B --pairs zs155:mg155 zs156:mg156 zs157:mg157 --out $R/mg_three > $R/mg_three.txt
foresplat-compare --results docs/results/meta_round26/mg $B \
  --pairs zs151:mg151 zs152:mg152 zs153:mg153 zs154:mg154 zs155:mg155 zs156:mg156 zs157:mg157 --out $R/mg_seven > $R/mg_seven.txt
