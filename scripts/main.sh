#!/usr/bin/env bash
# Installs what is missing, generates the built-in scenes once, and runs the main job on them.
# Extra arguments go to ns-train (e.g. --max-num-iterations 2000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$REPO"
SCENES="$(python -c 'from foresplat_ns.data.builtin import builtin_scenes; print(builtin_scenes())' | tail -n 1)"
SCENE="$(ls -d "$SCENES"/eval/scene_* | head -n 1)"
DEVICE="$(python -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')"
echo "[foresplat] refining $SCENE on $DEVICE (viewer at http://localhost:7007)"
ns-train foresplat-refine --data "$SCENE" --machine.device-type "$DEVICE" \
    --max-num-iterations 300 --steps-per-eval-all-images 100 --steps-per-save 100 \
    --vis viewer+tensorboard --viewer.quit-on-train-completion True "$@"
