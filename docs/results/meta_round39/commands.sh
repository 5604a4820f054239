#!/usr/bin/env bash
# Round 39 (README "Round 39"), repeated from the repository root with the venv active (source scripts/venv.sh),
# after docs/results/meta_round38/commands.sh: its scenes, its common start, its four networks (r/hzc155, r/hzc156,
# r/zs2x155, r/zs2x156) and its benchmarks (bench/v4r38_*) are reused.
set -euo pipefail
R=docs/results/meta_round39
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
bench() {  # bench OUT NAME RUN [flags]: the 4-view benchmark to 500 steps
  local out=$1 name=$2 run=$3; shift 3
  foresplat-bench --scenes heldout16 --num-context 4 --threads 1 --out "bench/$out" --starts "$name=$run" "$@"
}
FULL="--steps 0 10 25 50 100 150 200 250 300 350 400 450 500"
FIVE="--steps 0 25 100 250 500"
M=foresplat/foresplat-metagrad/run

# 1. Four arms at once, 40 minutes (twice the budget): round 37's arm (IFT, the horizon, the term on every group, λ
#    learned) on this start, seeds 155/156 (`hz`); a third seed of round 38's pair, IFT with the term on the colours
#    only (`hzc157`) and zero-step (`zs2x157`).
HORIZON="--pipeline.meta.mode ift --pipeline.meta.ift.horizon True --pipeline.meta.ift.cg-iterations 3
  --pipeline.meta.ift.hessian-views 2 --pipeline.meta.ift.diagonal-samples 1"
COLOURS="--pipeline.meta.ift.group-scales.means 0 --pipeline.meta.ift.group-scales.log-scales 0
  --pipeline.meta.ift.group-scales.quats 0 --pipeline.meta.ift.group-scales.logit-opacities 0"
for S in 155 156; do
  arm 40 foresplat-metagrad "hz$S" "$S" 1.796e-4 9e-5 $HORIZON &
done
arm 40 foresplat-metagrad hzc157 157 1.796e-4 9e-5 $HORIZON $COLOURS &
arm 40 foresplat zs2x157 157 5.986e-5 3e-5 &
wait

# 2. Benchmarks, four at once: the hz networks with their term held for the 30 steps they were trained with, then
#    falling as 1/step (--proximal-hold 30); the third pair as round 38.
bench v4r39_hz155_hold30 hz155 r/hz155/$M --proximal-hold 30 $FULL &
bench v4r39_hz156_hold30 hz156 r/hz156/$M --proximal-hold 30 $FULL &
bench v4r39_hzc157 hzc157 r/hzc157/$M $FULL &
bench v4r39_zs2x157 zs2x157 r/zs2x157/foresplat/foresplat/run $FULL &
wait

# 3. Four at once: the hz networks with their full term (round 37's protocol); round 38's hzc networks held.
bench v4r39_hz155 hz155 r/hz155/$M $FIVE &
bench v4r39_hz156 hz156 r/hz156/$M $FIVE &
bench v4r39_hzc155_hold30 hzc155 r/hzc155/$M --proximal-hold 30 $FIVE &
bench v4r39_hzc156_hold30 hzc156 r/hzc156/$M --proximal-hold 30 $FIVE &
wait

# 4. Two at once: the third hzc network held; an hz network without any term.
bench v4r39_hzc157_hold30 hzc157 r/hzc157/$M --proximal-hold 30 $FIVE &
bench v4r39_hz155_noprox hz155 r/hz155/$M --no-proximal $FIVE &
wait

# 5. Comparisons (round 38's zero-step and hzc benchmarks beside this round's).
B="bench/v4r38_zs2x155:zs2x155=z155 bench/v4r38_zs2x156:zs2x156=z156 bench/v4r39_zs2x157:zs2x157=z157
  bench/v4r38_hzc155:hzc155=c155 bench/v4r38_hzc156:hzc156=c156 bench/v4r39_hzc157:hzc157=c157
  bench/v4r39_hz155:hz155=f155 bench/v4r39_hz156:hz156=f156 bench/v4r39_hz155_hold30:hz155=h155
  bench/v4r39_hz156_hold30:hz156=h156 bench/v4r39_hzc155_hold30:hzc155=ch155 bench/v4r39_hzc156_hold30:hzc156=ch156
  bench/v4r39_hzc157_hold30:hzc157=ch157 bench/v4r39_hz155_noprox:hz155=n155"
foresplat-compare --results $B --pairs z155:c155 z156:c156 z157:c157 --out $R/colours_three > $R/colours_three.txt
foresplat-compare --results $B --pairs z155:c155 z156:c156 z157:c157 --key ssim > $R/colours_three_ssim.txt
foresplat-compare --results $B --pairs z155:c155 z156:c156 z157:c157 --key disparity_error > $R/colours_three_disparity.txt
foresplat-compare --results $B --pairs z155:f155 z156:f156 --out $R/full_term > $R/full_term.txt
foresplat-compare --results $B --pairs z155:h155 z156:h156 --out $R/hold > $R/hold.txt
foresplat-compare --results $B --pairs f155:h155 f156:h156 > $R/hold_vs_full.txt
foresplat-compare --results $B --pairs f155:c155 f156:c156 > $R/colours_vs_full_term.txt
foresplat-compare --results $B --pairs z155:ch155 z156:ch156 z157:ch157 > $R/colours_hold.txt
foresplat-compare --results $B --pairs c155:ch155 c156:ch156 c157:ch157 > $R/colours_hold_vs_own.txt
foresplat-compare --results $B --pairs z155:n155 > $R/hz155_no_term.txt
foresplat-compare --results $B --pairs f155:n155 > $R/hz155_no_term_vs_full.txt

# 6. A second draw of context and target views (--seed 1) on the same scenes: the three hzc/zs2x pairs to 100 steps,
#    two at once; pair 155 again to 500 steps.
for S in 155 156 157; do
  bench "v4r39_seed1_zs2x$S" "zs2x$S" "r/zs2x$S/foresplat/foresplat/run" --seed 1 --steps 0 25 100 &
  bench "v4r39_seed1_hzc$S" "hzc$S" "r/hzc$S/$M" --seed 1 --steps 0 25 100 &
  wait
done
bench v4r39_seed1_500_zs2x155 zs2x155 r/zs2x155/foresplat/foresplat/run --seed 1 $FIVE &
bench v4r39_seed1_500_hzc155 hzc155 r/hzc155/$M --seed 1 $FIVE &
wait
S="bench/v4r39_seed1_zs2x155:zs2x155=z155b bench/v4r39_seed1_zs2x156:zs2x156=z156b bench/v4r39_seed1_zs2x157:zs2x157=z157b
  bench/v4r39_seed1_hzc155:hzc155=c155b bench/v4r39_seed1_hzc156:hzc156=c156b bench/v4r39_seed1_hzc157:hzc157=c157b"
foresplat-compare --results $S --pairs z155b:c155b z156b:c156b z157b:c157b --out $R/colours_three_views1 > $R/colours_three_views1.txt
foresplat-compare --results $B $S --pairs z155:c155 z156:c156 z157:c157 z155b:c155b z156b:c156b z157b:c157b \
  > $R/colours_three_both_draws.txt
foresplat-compare --results bench/v4r39_seed1_500_zs2x155:zs2x155=z155b bench/v4r39_seed1_500_hzc155:hzc155=c155b \
  --pairs z155b:c155b > $R/pair155_views1_500.txt
