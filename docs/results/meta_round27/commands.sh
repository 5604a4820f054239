#!/usr/bin/env bash
# Round 27 (README "Round 27"), repeated from the repository root with the venv active (source scripts/venv.sh).
# Scenes: big-v1 (training), heldout16 (scene_0072..0079 of the built-in set's eval/ and scene_0080..0087 of
# `foresplat-scenes --out fwd --num-scenes 88 --num-eval 8 --layout forward --seed 0`, side by side in one folder).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
foresplat-scenes --out big-v1 --num-scenes 1008 --num-eval 8 --seed 1

# The common start: zero-step from scratch, 35 minutes, two threads.
OMP_NUM_THREADS=2 ns-train foresplat --data big-v1 --vis tensorboard --output-dir r/base --experiment-name foresplat \
  --timestamp run --pipeline.datamanager.num-refine 8 --pipeline.decay-over-budget True --pipeline.train-minutes 35 \
  --optimizers.initializer.scheduler.lr-final 5.986e-5 --max-num-iterations 1000000 --pipeline.datamanager.seed 49
START=r/base/foresplat/foresplat/run

# Per data seed, three 15-minute arms side by side on the two cores, one thread each.
arm() {  # arm NAME METHOD SEED LR LR_FINAL [flags]
  local name=$1 method=$2 seed=$3 lr=$4 lrf=$5; shift 5
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes 15 \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr "$lr" \
    --optimizers.initializer.scheduler.lr-final "$lrf" --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" "$@"
}
for SEED in 155 156; do
  arm "zs4v$SEED" foresplat "$SEED" 5.986e-5 3e-5 &
  arm "mg4v$SEED" foresplat-metagrad "$SEED" 1.796e-4 9e-5 --pipeline.meta.inner.lr-scale 2.5 --pipeline.meta.num-anchors 2 &
  arm "mg5x4v$SEED" foresplat "$SEED" 1.796e-4 9e-5 --pipeline.meta.mode metagrad --pipeline.meta.inner-steps 30 \
    --pipeline.meta.num-anchors 2 --pipeline.meta.step0-weight 0.25 --pipeline.meta.inner.lr-scale 5 &
  wait
done

# Benchmarks (run two at a time here), then the paired comparisons.
for SEED in 155 156; do
  for ARM in zs4v:zero-step mg4v:metagrad mg5x4v:metagrad5x; do
    foresplat-bench --scenes heldout16 --num-context 4 --steps 0 10 25 50 100 200 250 300 400 500 750 1000 --threads 1 \
      --out "bench/v4r27_${ARM%%:*}$SEED" --starts "${ARM##*:}=$(ls -d r/${ARM%%:*}$SEED/foresplat/*/run)"
  done
done
R=docs/results/meta_round27
B=""; for S in 155 156; do B="$B bench/v4r27_zs4v$S:zero-step=zs$S bench/v4r27_mg4v$S:metagrad=mg$S bench/v4r27_mg5x4v$S:metagrad5x=mgx$S"; done
foresplat-compare --results $B --pairs zs155:mg155 zs156:mg156 --out $R/mg > $R/mg.txt
foresplat-compare --results $B --pairs zs155:mg155 zs156:mg156 --key ssim > $R/mg_ssim.txt
foresplat-compare --results $B --pairs zs155:mgx155 zs156:mgx156 --out $R/mg5x > $R/mg5x.txt
foresplat-compare --results $B --pairs zs155:mgx155 zs156:mgx156 --key ssim > $R/mg5x_ssim.txt
foresplat-compare --results $B --pairs mg155:mgx155 mg156:mgx156 > $R/mg5x_vs_mg.txt
foresplat-compare --results docs/results/meta_round26/mg $B \
  --pairs zs151:mg151 zs152:mg152 zs153:mg153 zs154:mg154 zs155:mg155 zs156:mg156 --out $R/mg_six > $R/mg_six.txt
