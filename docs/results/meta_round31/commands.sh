#!/usr/bin/env bash
# Round 31 (README "Round 31"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after rounds 27-30's commands.sh (same scenes, same common start START, their zero-step, MetaGrad and IFT arms).
# The foresplat-metagrad preset then ran K=30 at 2.5x splatfacto's rates with 2 anchors; the flags below say so.
set -euo pipefail
START=r/base/foresplat/foresplat/run
R=docs/results/meta_round31

bench() {  # bench OUT NAME RUN [flags]
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" "$@"
}
arm() {  # arm METHOD NAME SEED [flags]: a 15-minute fine-tune from START at MetaGrad's rate, one thread, three at a time
  local method=$1 name=$2 seed=$3; shift 3
  OMP_NUM_THREADS=1 ns-train "$method" --data big-v1 --vis tensorboard --output-dir "r/$name" --experiment-name foresplat \
    --timestamp run --pipeline.model.initializer-checkpoint "$START" --pipeline.train-minutes 15 \
    --pipeline.decay-over-budget True --optimizers.initializer.optimizer.lr 1.796e-4 \
    --optimizers.initializer.scheduler.lr-final 9e-5 --optimizers.initializer.scheduler.warmup-steps 20 \
    --max-num-iterations 1000000 --pipeline.datamanager.seed "$seed" \
    --pipeline.datamanager.num-context 4 --pipeline.datamanager.num-refine 0 "$@"
}

# 1. MetaGrad's networks (rounds 27-28) refined to 1000 steps with round 30's fixed colour term.
for S in 155 156 157; do
  bench v4r31_mg4v${S}_colours "mg4v$S" "r/mg4v$S/foresplat/foresplat-metagrad/run" --steps 0 25 100 250 500 750 1000 \
    --proximal-lambda 1.46e-5 --proximal-groups sh_dc sh_rest &
done
wait

# 2. What a meta-step hands the network, part by part (benchmarks/meta_signal.py, 16 training batches each).
for N in is5v155 flv155; do
  python benchmarks/meta_signal.py --run "r/$N/foresplat/foresplat/run" > $R/signal_$N.txt
done
python benchmarks/meta_signal.py --run r/mg4v155/foresplat/foresplat-metagrad/run > $R/signal_mg4v155.txt
MG=mg=r/mg4v155/foresplat/foresplat-metagrad/run
python benchmarks/meta_signal.py --run $START --settings $MG mg_lr5=r/mg5x4v155/foresplat/foresplat/run \
  ift3=r/flv155/foresplat/foresplat/run > $R/signal_start_metagrad_variants.txt
python benchmarks/meta_signal.py --run $START --settings $MG ift3=r/flv155/foresplat/foresplat/run \
  ift10=r/flcv155/foresplat/foresplat/run > $R/signal_start_cg.txt
python benchmarks/meta_signal.py --run $START --fixed-lambda 1e-4 --settings $MG ift_shape_low=r/flv155/foresplat/foresplat/run \
  ift_default_scales=r/ift5v157/foresplat/foresplat/run > $R/signal_start_lambda1e-4.txt
python benchmarks/meta_signal.py --run $START --fixed-lambda 1.46e-5 --settings $MG \
  ift_default_scales=r/ift5v157/foresplat/foresplat/run > $R/signal_start_lambda1.46e-5_default_scales.txt

# 3. IFT with MetaGrad's inner loop (K=30 at 2.5x splatfacto's rates), λ fixed at 1.46e-5 as round 30's fl arms.
IFT="--pipeline.meta.mode ift --pipeline.meta.inner-steps 30 --pipeline.meta.inner.lr-scale 2.5
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1 --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.lambda-min 1.46e-5 --pipeline.meta.ift.lambda-max 1.46e-5
  --pipeline.meta.ift.group-scales.log-scales 0.01 --pipeline.meta.ift.group-scales.quats 0.05
  --pipeline.meta.step0-weight 0.25"
for S in 155 156 157; do arm foresplat "fk$S" "$S" $IFT & done
wait
for S in 155 156 157; do bench "v4r31_fk$S" "fk$S" "r/fk$S/foresplat/foresplat/run" --steps 0 25 100 250 500 & done
wait

# 4. MetaGrad as the foresplat-metagrad preset, its anchor at K only (no sampled anchor).
for S in 155 156 157; do arm foresplat-metagrad "m1k$S" "$S" --pipeline.meta.num-anchors 1 --pipeline.meta.inner.lr-scale 2.5 & done
wait
for S in 155 156 157; do bench "v4r31_m1k$S" "m1k$S" "r/m1k$S/foresplat/foresplat-metagrad/run" --steps 0 25 100 250 500 & done
wait
python benchmarks/meta_signal.py --run $START --settings $MG mg_k_only=r/m1k155/foresplat/foresplat-metagrad/run \
  ift_k30=r/fk155/foresplat/foresplat/run ift3=r/flv155/foresplat/foresplat/run > $R/signal_start_inner_loop.txt

# 5. IFT as round 30's fl arms with step-0 weight 0: the implicit gradient alone.
IFT0="--pipeline.meta.mode ift --pipeline.meta.inner-steps 10 --pipeline.meta.inner.lr-scale 5
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1 --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.lambda-min 1.46e-5 --pipeline.meta.ift.lambda-max 1.46e-5
  --pipeline.meta.ift.group-scales.log-scales 0.01 --pipeline.meta.ift.group-scales.quats 0.05
  --pipeline.meta.step0-weight 0"
for S in 155 156 157; do arm foresplat "f0$S" "$S" $IFT0 & done
wait
for S in 155 156 157; do bench "v4r31_f0$S" "f0$S" "r/f0$S/foresplat/foresplat/run" --steps 0 25 100 250 500 & done
wait

# 6. Comparisons (the zero-step, MetaGrad and IFT benchmarks of rounds 27-30).
B="bench/v4r27_zs4v155:zero-step=zs155 bench/v4r27_zs4v156:zero-step=zs156 bench/v4r28_zs4v157:zero-step=zs157"
B="$B bench/v4r27_mg4v155:metagrad=mg155 bench/v4r27_mg4v156:metagrad=mg156 bench/v4r28_mg4v157:metagrad=mg157"
for S in 155 156 157; do
  B="$B bench/v4r30_zs4v${S}_colours:zero-step=zc$S bench/v4r31_mg4v${S}_colours:mg4v$S=mc$S"
  B="$B bench/v4r30_flv$S:flv$S=fl$S bench/v4r31_fk$S:fk$S=fk$S bench/v4r31_m1k$S:m1k$S=m1$S bench/v4r31_f0$S:f0$S=f0$S"
done
foresplat-compare --results $B --pairs mg155:mc155 mg156:mc156 mg157:mc157 > $R/colour_term_metagrad.txt
foresplat-compare --results $B --pairs zc155:mc155 zc156:mc156 zc157:mc157 > $R/mg_colour_vs_zero_step_colour.txt
foresplat-compare --results $B --pairs zs155:mc155 zs156:mc156 zs157:mc157 --out $R/mg_colour_vs_zero_step \
  > $R/mg_colour_vs_zero_step.txt
foresplat-compare --results $B --pairs zs155:fk155 zs156:fk156 zs157:fk157 > $R/ift_k30_vs_zero_step.txt
foresplat-compare --results $B --pairs mg155:fk155 mg156:fk156 mg157:fk157 > $R/ift_k30_vs_metagrad.txt
foresplat-compare --results $B --pairs fl155:fk155 fl156:fk156 fl157:fk157 > $R/ift_k30_vs_ift_k10.txt
foresplat-compare --results $B --pairs zs155:m1155 zs156:m1156 zs157:m1157 > $R/mg_k_only_vs_zero_step.txt
foresplat-compare --results $B --pairs mg155:m1155 mg156:m1156 mg157:m1157 > $R/mg_k_only_vs_metagrad.txt
foresplat-compare --results $B --pairs m1155:fk155 m1156:fk156 m1157:fk157 --out $R/ift_k30_vs_mg_k_only \
  > $R/ift_k30_vs_mg_k_only.txt
foresplat-compare --results $B --pairs zs155:f0155 zs156:f0156 zs157:f0157 > $R/ift_step0_weight0_vs_zero_step.txt
foresplat-compare --results $B --pairs fl155:f0155 fl156:f0156 fl157:f0157 > $R/ift_step0_weight0_vs_fl.txt
