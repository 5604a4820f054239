#!/usr/bin/env bash
# Creates (once) and activates the project's virtual environment outside the repo,
# then installs this package into it. Sourced by scripts/test.sh and scripts/main.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FORESPLAT_VENV:-$HOME/.cache/foresplat_ns/venv}"
PY="${FORESPLAT_PYTHON:-python3.11}"

# One set-up at a time: a second shell (two runs started together) waits here, then finds the work done
# instead of using a package that the first is reinstalling.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
    exec {FORESPLAT_LOCK}>"$VENV.lock"
    flock "$FORESPLAT_LOCK"
fi

# open3d (nerfstudio's PLY reader) needs libusb at import time on a bare Debian machine.
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep 'libusb-1.0.so.0' >/dev/null; then
    echo "[foresplat] installing Debian's libusb-1.0-0 (needed by open3d)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

# The marker is written last, so an interrupted set-up is redone rather than reused.
if [ ! -f "$VENV/.torch-installed" ]; then
    echo "[foresplat] creating virtual environment at $VENV (torch, then nerfstudio: a few minutes)"
    mkdir -p "$(dirname "$VENV")"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # torch first, pinned, so that nerfstudio's requirements never resolve another build.
    "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
    touch "$VENV/.torch-installed"
fi

# Reinstall the package when its metadata changed or the venv points at another checkout
# (the editable install keeps code live, so this is rare and quick).
STAMP="$VENV/.foresplat_ns_$(sha1sum "$REPO/pyproject.toml" | cut -c1-12)"
WHERE="$(cd / && "$VENV/bin/python" -c 'import foresplat_ns, os; print(os.path.dirname(os.path.dirname(foresplat_ns.__file__)))' 2>/dev/null || true)"
if [ ! -f "$STAMP" ] || [ "$WHERE" != "$REPO" ]; then
    echo "[foresplat] installing foresplat_ns and nerfstudio into $VENV"
    LOG="$(mktemp)"
    if ! "$VENV/bin/pip" install -q -e "$REPO[dev]" torch==2.14.1 torchvision==0.29.1 >"$LOG" 2>&1; then
        tail -n 30 "$LOG"; echo "[foresplat] pip install failed (log: $LOG)"; exit 1
    fi
    rm -f "$VENV"/.foresplat_ns_*
    touch "$STAMP"
fi

if [ -n "${FORESPLAT_LOCK:-}" ]; then
    exec {FORESPLAT_LOCK}>&-
    unset FORESPLAT_LOCK
fi

export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
