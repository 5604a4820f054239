"""``foresplat-scenes``: generate a procedural multi-view meta-training dataset.

Writes ``OUT/train/scene_XXXX`` and ``OUT/eval/scene_XXXX`` (scene numbers are
global indices, so the two splits never share a scene) and ``OUT/manifest.json``.
Scene ``i`` depends only on ``(seed, i)`` and the rendering options, so reruns
with the same arguments produce byte-identical files.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

import tyro
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from foresplat_ns.scenes.generate import generate_scene
from foresplat_ns.scenes.writers import write_scene_blender, write_scene_nerfstudio

CONSOLE = Console()


@dataclass
class ScenesConfig:
    """Generate procedural multi-view scenes (nerfstudio-data or Blender format)."""

    out: Path = Path("scenes")
    """Output directory; receives train/, eval/ and manifest.json."""
    num_scenes: int = 100
    """Total number of scenes (train + eval)."""
    views: int = 24
    """Views rendered per scene."""
    resolution: int = 64
    """Image height in pixels (width = resolution * aspect)."""
    seed: int = 0
    """Dataset seed; scene i depends only on (seed, i)."""
    eval_fraction: float = 0.1
    """Fraction of scenes held out in eval/ (the highest indices); ignored when --num-eval is set."""
    num_eval: Optional[int] = None
    """Exact number of held-out eval scenes."""
    layout: Literal["orbit", "forward", "mixed"] = "mixed"
    """Camera layout: 360° orbit, forward-facing handheld path, or a random choice per scene."""
    background: Literal["sky", "room", "mixed"] = "mixed"
    """Enclosure: sky dome, textured room, or a random choice per scene."""
    format: Literal["nerfstudio", "blender"] = "nerfstudio"
    """Folder format; blender implies one shared focal length per scene."""
    supersample: int = 2
    """Anti-aliasing samples per pixel along each axis (2 = 4 rays per pixel)."""
    shadows: bool = True
    """Cast hard shadows from the directional light."""
    shared_intrinsics: bool = False
    """Use one focal length and a centred principal point for all views of a scene."""
    fov_range: tuple[float, float] = (40.0, 75.0)
    """Range of the horizontal field of view in degrees."""
    aspect: float = 1.0
    """Image width / height."""
    min_objects: int = 3
    """Fewest primitives per scene."""
    max_objects: int = 8
    """Most primitives per scene."""
    num_points: int = 4000
    """Points in each scene's sparse point cloud (points3D.ply)."""
    point_noise: float = 0.004
    """Standard deviation of the point cloud's position noise, scene units."""
    depth_format: Literal["png", "npy"] = "png"
    """Depth maps as 16-bit millimetre PNGs or float32 .npy in scene units."""
    blender_holdout_every: int = 8
    """Blender format: every n-th view goes to transforms_val/test.json instead of train."""
    png_compress_level: int = 3
    """zlib level of the PNGs (0-9); higher is smaller and slower."""
    workers: int = 0
    """Worker processes; 0 uses one per CPU core."""
    overwrite: bool = False
    """Replace existing train/ and eval/ folders in the output directory."""

    def num_eval_scenes(self) -> int:
        """Number of held-out scenes."""
        if self.num_eval is not None:
            return max(0, min(self.num_eval, self.num_scenes))
        n = int(round(self.num_scenes * self.eval_fraction))
        if self.eval_fraction > 0 and self.num_scenes > 1:
            n = max(n, 1)
        return min(n, self.num_scenes - 1) if self.num_scenes > 1 else 0

    def splits(self) -> list[tuple[int, str]]:
        """(global index, split) of every scene: eval takes the last indices."""
        first_eval = self.num_scenes - self.num_eval_scenes()
        return [(i, "eval" if i >= first_eval else "train") for i in range(self.num_scenes)]


def scene_name(index: int) -> str:
    """Folder name of a scene."""
    return f"scene_{index:04d}"


def build_scene(config: ScenesConfig, index: int, split: str) -> dict:
    """Generate and write one scene; returns its manifest entry."""
    scene = generate_scene(
        index,
        seed=config.seed,
        views=config.views,
        resolution=config.resolution,
        layout=config.layout,
        background=config.background,
        supersample=config.supersample,
        shadows=config.shadows,
        shared_intrinsics=config.shared_intrinsics or config.format == "blender",
        fov_range=tuple(config.fov_range),  # type: ignore[arg-type]
        num_points=config.num_points,
        point_noise=config.point_noise,
        aspect=config.aspect,
        min_objects=config.min_objects,
        max_objects=config.max_objects,
    )
    folder = config.out / split / scene_name(index)
    if folder.exists():
        shutil.rmtree(folder)
    if config.format == "blender":
        write_scene_blender(
            scene, folder, config.blender_holdout_every, config.depth_format, config.png_compress_level
        )
    else:
        write_scene_nerfstudio(scene, folder, config.depth_format, config.png_compress_level)
    return {
        "name": scene_name(index),
        "index": index,
        "split": split,
        "path": f"{split}/{scene_name(index)}",
        "layout": scene.layout,
        "background": scene.background,
        "num_objects": scene.meta["num_objects"],
        "near": scene.meta["near"],
        "far": scene.meta["far"],
    }


def _build_task(args: tuple[ScenesConfig, int, str]) -> dict:
    return build_scene(*args)


def _init_worker() -> None:
    # Processes already use every core; BLAS threads inside each would only oversubscribe them.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)


def _check_config(config: ScenesConfig) -> None:
    if config.num_scenes < 1 or config.views < 1 or config.resolution < 4:
        raise SystemExit("need --num-scenes >= 1, --views >= 1 and --resolution >= 4")
    if not 1 <= config.supersample <= 8:
        raise SystemExit("--supersample must be within 1..8")
    if not 3 <= config.min_objects <= config.max_objects:
        raise SystemExit("need 3 <= --min-objects <= --max-objects")
    lo, hi = config.fov_range
    if not 5.0 <= lo <= hi < 170.0:
        raise SystemExit("--fov-range must satisfy 5 <= low <= high < 170 degrees")


def manifest(config: ScenesConfig, entries: list[dict]) -> dict:
    """Dataset summary; excludes run-specific options so reruns give identical bytes."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("out", "workers", "overwrite")}
    settings["fov_range"] = list(settings["fov_range"])
    entries = sorted(entries, key=lambda e: e["index"])
    return {
        "generator": "foresplat_ns.scenes",
        "format": config.format,
        "config": settings,
        "train": [e["name"] for e in entries if e["split"] == "train"],
        "eval": [e["name"] for e in entries if e["split"] == "eval"],
        "scenes": entries,
    }


def main(config: ScenesConfig) -> dict:
    """Generate the dataset described by ``config``; returns the manifest."""
    _check_config(config)
    start = time.perf_counter()
    out = config.out
    for split in ("train", "eval"):
        folder = out / split
        if folder.exists() and any(folder.iterdir()):
            if not config.overwrite:
                raise SystemExit(f"{folder} is not empty; pass --overwrite to replace it")
            shutil.rmtree(folder)
    for split in ("train", "eval"):
        (out / split).mkdir(parents=True, exist_ok=True)

    tasks = [(config, index, split) for index, split in config.splits()]
    workers = config.workers or (os.cpu_count() or 1)
    workers = max(1, min(workers, len(tasks)))
    entries: list[dict] = []
    columns = (
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=CONSOLE) as progress:
        bar = progress.add_task("Rendering scenes", total=len(tasks))
        if workers == 1:
            for task in tasks:
                entries.append(_build_task(task))
                progress.advance(bar)
        else:
            # Fork keeps start-up cheap; every scene is independent, so order does not matter.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
                for entry in pool.imap_unordered(_build_task, tasks):
                    entries.append(entry)
                    progress.advance(bar)

    summary = manifest(config, entries)
    (out / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    elapsed = time.perf_counter() - start
    n_train, n_eval = len(summary["train"]), len(summary["eval"])
    width = int(round(config.resolution * config.aspect))
    CONSOLE.print(
        f"[green]Wrote {len(entries)} scenes ({n_train} train, {n_eval} eval) x {config.views} views "
        f"at {width}x{config.resolution} ({config.format}) to {out}"
    )
    CONSOLE.print(f"Time taken: {elapsed:.2f} s ({1000 * elapsed / len(entries):.0f} ms per scene, {workers} workers)")
    return summary


def entrypoint() -> None:
    """Console script entry point."""
    main(tyro.cli(ScenesConfig))


if __name__ == "__main__":
    entrypoint()
