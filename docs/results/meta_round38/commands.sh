#!/usr/bin/env bash
# Round 38 (README "Round 38"), repeated from the repository root with the venv active (source scripts/venv.sh).
# The scenes and the common start are made again with round 27's commands: the start is a new network, so no earlier
# round's networks or benchmarks are compared with this one's.
set -euo pipefail
R=docs/results/meta_round38

# Scenes: big-v1 (training) and heldout16 (the built-in set's eval/ scene_0072..0079 beside fwd's eval/ scene_0080..0087).
foresplat-scenes --out big-v1 --num-scenes 1008 --num-eval 8 --seed 1
foresplat-scenes --out fwd --num-scenes 88 --num-eval 8 --layout forward --seed 0
BUILTIN=$(python -c "from foresplat_ns.data.builtin import builtin_scenes; print(builtin_scenes())")
mkdir -p heldout16 && cp -r "$BUILTIN"/eval/scene_* fwd/eval/scene_* heldout16/

# The common start: zero-step from scratch, 35 minutes, two threads.
OMP_NUM_THREADS=2 ns-train foresplat --data big-v1 --vis tensorboard --output-dir r/base --experiment-name foresplat \
  --timestamp run --pipeline.datamanager.num-refine 8 --pipeline.decay-over-budget True --pipeline.train-minutes 35 \
  --optimizers.initializer.scheduler.lr-final 5.986e-5 --max-num-iterations 1000000 --pipeline.datamanager.seed 49
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
bench() {  # bench OUT NAME RUN: the 4-view benchmark to 500 steps
  local out=$1 name=$2 run=$3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" \
    --steps 0 10 25 50 100 150 200 250 300 350 400 450 500
}

# 1. Twice the budget (40 minutes, four arms at once on two cores, as rounds 35 and 37): IFT with the horizon weight on
#    MetaGrad's inner loop (round 37's arm) with the proximal term on the colours only (the shape's groups' λ scale 0,
#    in training and so in refinement), λ of the colours learned from the confidence; and zero-step. Seeds 155/156.
COLOURS="--pipeline.meta.mode ift --pipeline.meta.ift.horizon True --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1
  --pipeline.meta.ift.group-scales.means 0 --pipeline.meta.ift.group-scales.log-scales 0
  --pipeline.meta.ift.group-scales.quats 0 --pipeline.meta.ift.group-scales.logit-opacities 0"
for S in 155 156; do
  arm 40 foresplat-metagrad "hzc$S" "$S" 1.796e-4 9e-5 $COLOURS &
  arm 40 foresplat "zs2x$S" "$S" 5.986e-5 3e-5 &
done
wait

# 2. The four benchmarks at once (the IFT networks refine with their own proximal term, on the colours).
for S in 155 156; do
  bench "v4r38_hzc$S" "hzc$S" "r/hzc$S/foresplat/foresplat-metagrad/run" &
  bench "v4r38_zs2x$S" "zs2x$S" "r/zs2x$S/foresplat/foresplat/run" &
done
wait

# 3. Comparisons.
B="bench/v4r38_hzc155:hzc155=c155 bench/v4r38_hzc156:hzc156=c156 bench/v4r38_zs2x155:zs2x155=z155 bench/v4r38_zs2x156:zs2x156=z156"
foresplat-compare --results $B --pairs z155:c155 z156:c156 --out $R/colours > $R/colours.txt
foresplat-compare --results $B --pairs z155:c155 z156:c156 --key ssim > $R/colours_ssim.txt

# 4. Is it the term? The zero-step networks refined with a fixed proximal term on the colours (λ 6e-6 times the group
#    scales: the geometric mean of the two IFT networks' last logged
#    lambda_sh_dc over its group scale 2), two at once, to 500 steps.
for S in 155 156; do
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/v4r38_zs2x${S}_colourterm" \
    --starts "zs2x$S=r/zs2x$S/foresplat/foresplat/run" --proximal-lambda 6e-6 --proximal-groups sh_dc sh_rest \
    --steps 0 25 100 250 500 &
done
wait
B="$B bench/v4r38_zs2x155_colourterm:zs2x155=t155 bench/v4r38_zs2x156_colourterm:zs2x156=t156"
foresplat-compare --results $B --pairs t155:c155 t156:c156 > $R/colours_vs_zero_step_with_term.txt
foresplat-compare --results $B --pairs z155:t155 z156:t156 > $R/zero_step_term.txt

# 5. The IFT networks refined without their term, two at once, to 500 steps.
for S in 155 156; do
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/v4r38_hzc${S}_noprox" \
    --starts "hzc$S=r/hzc$S/foresplat/foresplat-metagrad/run" --no-proximal --steps 0 25 100 250 500 &
done
wait
B="$B bench/v4r38_hzc155_noprox:hzc155=n155 bench/v4r38_hzc156_noprox:hzc156=n156"
foresplat-compare --results $B --pairs n155:c155 n156:c156 > $R/colour_term_on_ift.txt
foresplat-compare --results $B --pairs z155:n155 z156:n156 > $R/no_term.txt
