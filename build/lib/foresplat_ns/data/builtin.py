"""The built-in scene set: generated once into a cache folder, so commands work without --data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nerfstudio.utils.rich_utils import CONSOLE

BUILTIN_NAME = "builtin-v1"
"""Bump when the generator's output changes, so stale caches are not reused."""


def cache_dir() -> Path:
    """Where generated data is cached: $FORESPLAT_CACHE, else ~/.cache/foresplat_ns."""
    return Path(os.environ.get("FORESPLAT_CACHE", Path.home() / ".cache" / "foresplat_ns"))


def builtin_scenes() -> Path:
    """Path of the built-in scene folder (72 train + 8 eval scenes, 24 views, 64x64), generating it if needed."""
    from foresplat_ns.scenes.cli import ScenesConfig, main

    root = cache_dir() / "scenes" / BUILTIN_NAME
    if (root / "manifest.json").is_file():
        return root
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    CONSOLE.log(f"foresplat: generating the built-in scenes once into {root}")
    main(ScenesConfig(out=partial, num_scenes=80, num_eval=8, views=24, resolution=64, seed=0))
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)  # atomic: an interrupted generation never looks complete
    return root
