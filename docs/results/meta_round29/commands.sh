#!/usr/bin/env bash
# Round 29 (README "Round 29"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 27-28's commands.sh (same scenes, same common start START, their zero-step, MetaGrad and IFT arms).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run

bench() {  # bench OUT NAME RUN [flags]
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" "$@"
}
# 1. Which parameter group's proximal term costs: round 28's IFT network (seed 157) refined with its term on one
#    group at a time (means; log_scales and quats; logit_opacities; sh_dc and sh_rest).
IFT157="$(ls -d r/ift5v157/foresplat/*/run)"
bench v4r29_ift5v157_only_means ift "$IFT157" --steps 0 25 100 250 500 --proximal-groups means
bench v4r29_ift5v157_only_shape ift "$IFT157" --steps 0 25 100 250 500 --proximal-groups log_scales quats
bench v4r29_ift5v157_only_opacity ift "$IFT157" --steps 0 25 100 250 500 --proximal-groups logit_opacities
bench v4r29_ift5v157_only_colours ift "$IFT157" --steps 0 25 100 250 500 --proximal-groups sh_dc sh_rest

# 2. IFT as round 26 trained it, with the shape groups' λ a hundred times lower (group scales of log_scales and quats
#    0.01 and 0.05 instead of 1 and 5), three seeds side by side.
arm() {  # arm NAME METHOD SEED LR LR_FINAL [flags]: a 15-minute fine-tune from START, one thread
  local name=$1 method=$2 seed=$3 lr=$4 lrf=$5; shift 5
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes 15 \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 "$@"
}
IFT="--pipeline.meta.mode ift --pipeline.meta.inner-steps 10 --pipeline.meta.inner.lr-scale 5
  --pipeline.meta.ift.cg-iterations 3 --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1
  --pipeline.meta.step0-weight 0.25 --pipeline.meta.ift.lambda-min 1e-5
  --pipeline.meta.ift.group-scales.log-scales 0.01 --pipeline.meta.ift.group-scales.quats 0.05"
for S in 155 156 157; do arm is5v$S foresplat $S 1.796e-4 9e-5 $IFT & done
wait
STEPS="--steps 0 10 25 50 100 200 250 300 400 500 750 1000"
for S in 155 156 157; do bench v4r29_is5v$S is5v$S "$(ls -d r/is5v$S/foresplat/*/run)" $STEPS; done
for S in 155 156 157; do
  bench v4r29_is5v${S}_noterm is5v$S "$(ls -d r/is5v$S/foresplat/*/run)" --steps 0 25 100 250 500 750 1000 --no-proximal
done

# 3. The round 28 hybrid with round 26's floor (h5) and the shape nearly free, three seeds side by side, to 500 steps.
HYBRID="--pipeline.meta.mode ift --pipeline.meta.ift.first-order-anchors True --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1 --pipeline.meta.ift.lambda-min 1e-5
  --pipeline.meta.ift.group-scales.log-scales 0.01 --pipeline.meta.ift.group-scales.quats 0.05"
for S in 155 156 157; do arm hs5v$S foresplat-metagrad $S 1.796e-4 9e-5 $HYBRID --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 & done
wait
for S in 155 156 157; do
  bench v4r29_hs5v$S hs5v$S "$(ls -d r/hs5v$S/foresplat/*/run)" --steps 0 10 25 50 100 200 250 300 400 500
done

# 4. Which group's term gives IFT's late gain: the seed-157 network with the shape nearly free, its term on one group.
IS157="$(ls -d r/is5v157/foresplat/*/run)"
bench v4r29_is5v157_only_means is5v157 "$IS157" --steps 0 100 500 750 1000 --proximal-groups means
bench v4r29_is5v157_only_logit_opacities is5v157 "$IS157" --steps 0 100 500 750 1000 --proximal-groups logit_opacities
bench v4r29_is5v157_only_sh_dc is5v157 "$IS157" --steps 0 100 500 750 1000 --proximal-groups sh_dc sh_rest

R=docs/results/meta_round29
B="bench/v4r28_ift5v157:ift5v157=all bench/v4r28_ift5v157_noterm:ift5v157=none"
for G in means shape opacity colours; do B="$B bench/v4r29_ift5v157_only_$G:ift=$G"; done
foresplat-compare --results $B --pairs none:all none:means none:shape none:opacity none:colours > $R/term_by_group.txt
foresplat-compare --results $B --pairs none:all none:means none:shape none:opacity none:colours --key ssim > $R/term_by_group_ssim.txt
B=""; for S in 155 156; do B="$B bench/v4r27_zs4v$S:zero-step=zs$S bench/v4r27_mg4v$S:metagrad=mg$S"; done
B="$B bench/v4r28_zs4v157:zero-step=zs157 bench/v4r28_mg4v157:metagrad=mg157 bench/v4r28_ift5v157:ift5v157=ift157"
for S in 155 156 157; do B="$B bench/v4r29_is5v$S:is5v$S=is$S bench/v4r29_is5v${S}_noterm:is5v$S=n$S"; done
foresplat-compare --results $B --pairs zs155:is155 zs156:is156 zs157:is157 --out $R/shape_free > $R/shape_free.txt
foresplat-compare --results $B --pairs zs155:is155 zs156:is156 zs157:is157 --key ssim > $R/shape_free_ssim.txt
foresplat-compare --results $B --pairs n155:is155 n156:is156 n157:is157 > $R/term_cost.txt
foresplat-compare --results $B --pairs zs155:n155 zs156:n156 zs157:n157 > $R/noterm.txt
foresplat-compare --results $B --pairs mg155:is155 mg156:is156 mg157:is157 > $R/vs_metagrad.txt
foresplat-compare --results $B --pairs ift157:is157 > $R/vs_round28_ift.txt
B="$B bench/v4r28_h5v155:h5v155=h5155"; for S in 155 156 157; do B="$B bench/v4r29_hs5v$S:hs5v$S=hs$S"; done
foresplat-compare --results $B --pairs zs155:hs155 zs156:hs156 zs157:hs157 --out $R/hybrid > $R/hybrid.txt
foresplat-compare --results $B --pairs mg155:hs155 mg156:hs156 mg157:hs157 > $R/hybrid_vs_metagrad.txt
foresplat-compare --results $B --pairs h5155:hs155 > $R/hybrid_vs_round28.txt
B="bench/v4r29_is5v157:is5v157=all bench/v4r29_is5v157_noterm:is5v157=none"
for G in means logit_opacities sh_dc; do B="$B bench/v4r29_is5v157_only_$G:is5v157=$G"; done
foresplat-compare --results $B --pairs none:all none:means none:logit_opacities none:sh_dc > $R/late_gain_by_group.txt
