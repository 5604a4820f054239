#!/usr/bin/env bash
# The main job on the built-in data: installs what is missing, generates the built-in scenes once,
# trains the initializer across them (ns-train foresplat), then refines a held-out scene with
# splatfacto starting from the network's prediction (ns-train foresplat-refine).
# FORESPLAT_STEPS / FORESPLAT_REFINE_STEPS change the budgets; extra arguments go to the first ns-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$REPO"
STEPS="${FORESPLAT_STEPS:-1000}"
REFINE_STEPS="${FORESPLAT_REFINE_STEPS:-300}"
OUT="${FORESPLAT_OUTPUTS:-outputs}"
DEVICE="$(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
SCENES="$(python -c 'from foresplat_ns.data.builtin import builtin_scenes; print(builtin_scenes())' | tail -n 1)"

echo "[foresplat] 1/2 training the initializer on $SCENES/train for $STEPS steps on $DEVICE (viewer: http://localhost:7007)"
ns-train foresplat --data "$SCENES" --machine.device-type "$DEVICE" --output-dir "$OUT" \
    --experiment-name builtin --max-num-iterations "$STEPS" \
    --vis viewer+tensorboard --viewer.quit-on-train-completion True "$@"

RUN="$(ls -td "$OUT"/builtin/foresplat/*/ | head -n 1)"
SCENE="$(ls -d "$SCENES"/eval/scene_* | head -n 1)"
echo "[foresplat] 2/2 refining held-out $SCENE from the prediction for $REFINE_STEPS steps"
ns-train foresplat-refine --data "$SCENE" --machine.device-type "$DEVICE" --output-dir "$OUT" \
    --experiment-name refine --max-num-iterations "$REFINE_STEPS" \
    --pipeline.model.initializer-checkpoint "$RUN" \
    --steps-per-eval-all-images 100 --vis viewer+tensorboard --viewer.quit-on-train-completion True
echo "[foresplat] done: ns-viewer --load-config $(ls -td "$OUT"/refine/foresplat-refine/*/ | head -n 1)config.yml"
