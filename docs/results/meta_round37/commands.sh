#!/usr/bin/env bash
# Round 37 (README "Round 37"), repeated from the repository root with the venv active (source scripts/venv.sh).
# The scenes and the common start are made again with round 27's commands (its start was not kept): the start is a new
# network, so no earlier round's networks or benchmarks are compared with this one's.
set -euo pipefail
R=docs/results/meta_round37

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
bench() {  # bench OUT NAME RUN: the 4-view benchmark to 1000 steps, with round 34's finer steps
  local out=$1 name=$2 run=$3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" \
    --steps 0 10 25 50 100 150 200 250 300 350 375 400 450 500 625 750 875 1000
}

# 1. Twice the budget (40 minutes, four arms at once on two cores, as round 35): IFT with the horizon weight on
#    MetaGrad's inner loop (the foresplat-metagrad preset: K=30 at 10x, step-0 weight 0.25), λ learned from the
#    confidence as specified (the default range, the head reset to confidence 0.1), and zero-step, seeds 155/156.
HORIZON="--pipeline.meta.mode ift --pipeline.meta.ift.horizon True --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1"
for S in 155 156; do
  arm 40 foresplat-metagrad "hz$S" "$S" 1.796e-4 9e-5 $HORIZON &
  arm 40 foresplat "zs2x$S" "$S" 5.986e-5 3e-5 &
done
wait

# 2. The four benchmarks at once (the IFT networks refine with their proximal term, as specified).
for S in 155 156; do
  bench "v4r37_hz$S" "hz$S" "r/hz$S/foresplat/foresplat-metagrad/run" &
  bench "v4r37_zs2x$S" "zs2x$S" "r/zs2x$S/foresplat/foresplat/run" &
done
wait

# 3. What a meta-step hands the network, with and without the horizon weight, on the trained hz155 network and
#    its own settings (8 training batches, the same for both).
for H in True False; do
  python benchmarks/meta_signal.py --run r/hz155/foresplat/foresplat-metagrad/run --scenes big-v1 --num-steps 8 \
    --horizon $H > $R/signal_hz155_horizon_$H.txt
done

# 4. Comparisons.
B="bench/v4r37_hz155:hz155=h155 bench/v4r37_hz156:hz156=h156 bench/v4r37_zs2x155:zs2x155=z155 bench/v4r37_zs2x156:zs2x156=z156"
foresplat-compare --results $B --pairs z155:h155 z156:h156 --out $R/horizon > $R/horizon.txt
foresplat-compare --results $B --pairs z155:h155 z156:h156 --key ssim > $R/horizon_ssim.txt

# 5. The IFT networks refined without their proximal term, to 500 steps, two at once.
for S in 155 156; do
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/v4r37_hz${S}_noprox" \
    --starts "hz$S=r/hz$S/foresplat/foresplat-metagrad/run" --no-proximal --steps 0 25 100 250 500 &
done
wait
B="$B bench/v4r37_hz155_noprox:hz155=n155 bench/v4r37_hz156_noprox:hz156=n156"
foresplat-compare --results $B --pairs z155:n155 z156:n156 > $R/no_proximal.txt
foresplat-compare --results $B --pairs h155:n155 h156:n156 > $R/no_proximal_vs_proximal.txt
