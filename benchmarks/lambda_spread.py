"""How much does an IFT-trained network's proximal weight λ vary between Gaussians? Measured on held-out scenes.

Diff3R's term is uncertainty-weighted: λ should be large where the views pin a Gaussian down and small where
they do not. For each run, the held-out scenes' context views (chosen as `foresplat-bench` chooses them) go
through the network, and the confidences' λ (before the group scales) are pooled over scenes. It prints the
quantiles of λ, the ratio of its 90th to its 10th percentile, and the share of the run's log-λ range
[lambda_min, lambda_max] that the middle 80% of Gaussians span (0: one λ for all, as a fixed λ; 1: the whole
range). Usage:

    python benchmarks/lambda_spread.py --runs NAME=RUN [NAME=RUN ...] [--scenes FOLDER] [--num-context 4]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import torch
import tyro
from rich.console import Console
from rich.table import Table

from foresplat_ns.benchmark.run import BenchConfig, StartError, parse_start, select_views
from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.meta.ift import IFTConfig
from foresplat_ns.meta.proximal import proximal_weights


@dataclass
class LambdaSpread:
    """Quantiles of the learned λ of IFT-trained runs on held-out scenes."""

    runs: List[str]
    """NAME=RUN: `ns-train foresplat` runs trained with --pipeline.meta.mode ift."""
    scenes: Path = field(default_factory=builtin_scenes)
    """Folder of scenes; its eval/ split is used when present."""
    num_context: int = 4
    """Context views per scene (the network's input), as `foresplat-bench --num-context`."""
    resolution: int = 64
    """Working resolution, as `foresplat-bench --resolution`."""


def spread(values: torch.Tensor, trained: IFTConfig) -> dict:
    """Quantiles of λ, their 90/10 ratio and the share of the log-λ range spanned by the middle 80%."""
    q = torch.quantile(values.double(), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
    span = math.log(trained.lambda_max / trained.lambda_min)
    share = math.log(q[2] / q[0]) / span if span > 0 else 0.0
    return {"p10": q[0], "p50": q[1], "p90": q[2], "ratio": q[2] / q[0], "share": share}


def main(cmd: LambdaSpread) -> None:
    """Runs the study and prints the table."""
    torch.set_num_threads(1)
    split = "eval" if (cmd.scenes / "eval").is_dir() else "all"
    entries = find_scenes(cmd.scenes, split)
    config = BenchConfig(num_context=cmd.num_context)
    table = Table("run", "λ p10", "λ p50", "λ p90", "p90/p10", "share of log-λ range", title="learned λ before group scales")
    for spec in cmd.runs:
        try:
            start = parse_start(spec)
        except StartError as error:
            raise SystemExit(f"lambda_spread.py: {error}") from None
        if start.proximal is None:
            raise SystemExit(f"lambda_spread.py: {spec} was not trained with --pipeline.meta.mode ift (no λ to measure)")
        pooled = []
        for index, entry in enumerate(entries):
            scene = load_scene(entry, cmd.resolution)
            batch = select_views(scene, index, config)
            prediction = start.make(batch, scene)
            # Any group's λ over its scale is the base λ; the means' scale is never zero.
            weights = proximal_weights(prediction.confidence, start.proximal)
            pooled.append(weights["means"].flatten() / start.proximal.group_scales["means"])
        s = spread(torch.cat(pooled), start.proximal)
        table.add_row(start.name, *(f"{s[k]:.2e}" for k in ("p10", "p50", "p90")), f"{s['ratio']:.2f}", f"{s['share']:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main(tyro.cli(LambdaSpread))
