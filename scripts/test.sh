#!/usr/bin/env bash
# Installs what is missing, then runs the test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$REPO"
python -m pytest tests "$@"
