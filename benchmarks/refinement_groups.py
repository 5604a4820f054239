"""What limits refinement from a start? Per-group ablations of splatfacto's optimiser on held-out scenes.

From one start (an initializer run, or splatfacto's point-cloud start) each held-out scene is refined
with the benchmark's protocol (`foresplat-bench --holdout-every 8 --network-views 8`) several times:

- ``all``: splatfacto's optimiser unchanged (the benchmark's refinement);
- ``lrF``: every learning rate times F (``lr2``: doubled); ``lrF-GROUP``: only that group's;
- ``freeze-GROUP``: that group never moves; ``only-GROUP``: only that group moves.

Groups: means, scales, quats, opacities, colors (SH DC and rest), shape (scales, quats, opacities).
If ``lr2`` reaches at step s/2 what ``all`` reaches at step s, refinement is bound by its step size,
and a start can save steps only by already standing where those steps would take it. With ``all``
the script also prints how far each group travelled, as a fraction of the largest possible Adam
travel (steps x learning rate): near 1 means every step pushed the same way. Usage::

    python benchmarks/refinement_groups.py --run RUN [--configs all lr2 freeze-shape ...] [--scene-ids 0 1] [--out R.jsonl]
    python benchmarks/refinement_groups.py --records R.jsonl ... --plot psnr.png   # report earlier runs
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch
import tyro
from rich.console import Console
from rich.progress import track
from rich.table import Table

from foresplat_ns.benchmark.run import BenchConfig, evaluate, parse_start, select_views
from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.meta.inner import SPLATFACTO_LRS, InnerLoop, InnerLoopConfig
from foresplat_ns.meta.normalise import Normalisation

GROUPS: Dict[str, List[str]] = {
    "means": ["means"],
    "scales": ["scales"],
    "quats": ["quats"],
    "opacities": ["opacities"],
    "colors": ["features_dc", "features_rest"],
    "shape": ["scales", "quats", "opacities"],
}


@dataclass
class RefinementGroups:
    """Per-group ablations of the refinement from one start."""

    run: Optional[Path] = None
    """A `ns-train foresplat` run folder or checkpoint; None: splatfacto's start from the point cloud."""
    scenes: Path = field(default_factory=builtin_scenes)
    """Folder of scenes; its eval/ split is used when present."""
    scene_ids: List[int] = field(default_factory=lambda: list(range(8)))
    """Indices of the held-out scenes to refine."""
    configs: List[str] = field(default_factory=lambda: ["all", "lr2", "freeze-means", "freeze-colors", "freeze-shape"])
    """Ablations: all, lrF (every learning rate times F), lrF-GROUP, freeze-GROUP, only-GROUP."""
    steps: List[int] = field(default_factory=lambda: [0, 100, 250, 500])
    """Refinement steps at which the target views are evaluated."""
    network_views: int = 8
    """Context views the network sees, as `foresplat-bench --network-views`."""
    threads: int = 1
    """torch CPU threads."""
    out: Optional[Path] = None
    """Also write one JSON line per (scene, config) here."""
    plot: Optional[Path] = None
    """Also draw mean target PSNR against steps, one line per ablation, into this PNG."""
    records: List[Path] = field(default_factory=list)
    """Report (and plot) these JSON-lines files of earlier runs instead of refining."""


def _moving(config: str) -> Dict[str, float]:
    """Learning-rate factor of each splatfacto group under an ablation (0: frozen)."""
    kind, _, group = config.partition("-")
    factor = None
    if kind.startswith("lr"):
        try:
            factor = float(kind[2:])
        except ValueError:
            factor = -1.0
    known = kind in ("all", "freeze", "only") or (factor is not None and factor > 0)
    if not known or (group and group not in GROUPS) or (kind in ("freeze", "only") and not group) or (kind == "all" and group):
        raise SystemExit(
            f"unknown ablation {config!r}: use all, lrF, lrF-GROUP (F a factor), freeze-GROUP or only-GROUP "
            f"with GROUP in {', '.join(GROUPS)}"
        )
    factors = {key: 1.0 for key in SPLATFACTO_LRS}
    chosen = GROUPS[group] if group else list(factors)
    for key in factors:
        if factor is not None and key in chosen:
            factors[key] = factor
        elif (kind == "freeze" and key in chosen) or (kind == "only" and key not in chosen):
            factors[key] = 0.0
    return factors


def refine(loop: InnerLoop, factors: Dict[str, float], steps: int) -> None:
    """Runs `steps` refinement steps with each group's learning rate scaled (the means schedule included);
    a factor of 0 freezes the group (Adam with rate 0 leaves it unchanged)."""
    for _ in range(steps):
        rates = {key: [g["lr"] for g in loop.optimizers[key].param_groups] for key in factors}
        for key, factor in factors.items():
            for group, rate in zip(loop.optimizers[key].param_groups, rates[key]):
                group["lr"] = rate * factor
        loop.step()
        for key in factors:
            if key != "means":  # the step has already set the means' scheduled rate
                for group, rate in zip(loop.optimizers[key].param_groups, rates[key]):
                    group["lr"] = rate


def main(args: RefinementGroups) -> None:
    torch.set_num_threads(args.threads)
    console = Console()
    if args.records:
        records = [json.loads(line) for path in args.records for line in path.read_text().splitlines() if line.strip()]
        if not records:
            raise SystemExit(f"no records in {', '.join(map(str, args.records))}: pass files written with --out")
        _report(console, records, args)
        return
    start = parse_start(f"start={args.run}" if args.run else "splatfacto", network_views=args.network_views)
    bench = BenchConfig(holdout_every=8)
    entries = find_scenes(args.scenes, "eval")
    if not entries or not args.scene_ids or max(args.scene_ids) >= len(entries) or min(args.scene_ids) < 0:
        raise SystemExit(f"{args.scenes} has {len(entries)} held-out scenes: pick --scene-ids between 0 and {len(entries) - 1}")
    factors = {config: _moving(config) for config in args.configs}
    records: List[dict] = []
    for index in track(args.scene_ids, description="scenes", console=console):
        scene = load_scene(entries[index], 64)
        batch = select_views(scene, index, bench)
        norm = Normalisation.of_batch(batch)
        normalised, initial = norm.batch(batch), norm.gaussians(start.make(batch, scene))
        for config in args.configs:
            loop = InnerLoop(
                InnerLoopConfig(sh_schedule=start.sh_schedule), initial, batch.context_images, normalised.context_cameras
            )
            before = {key: p.detach().clone() for key, p in loop.params.items()}
            psnr = {}
            for step in sorted(set(args.steps)):
                refine(loop, factors[config], step - loop.step_count)
                psnr[step] = evaluate(loop.gaussians(), batch.target_images, normalised.target_cameras)[0]
            travel = {}
            if config == "all" and loop.step_count:
                for key, p in loop.params.items():
                    moved = (p.detach() - before[key]).abs() / (SPLATFACTO_LRS[key] * loop.step_count)
                    travel[key] = [float(moved.median()), float(moved.quantile(0.9))]
            record = {"scene": scene.name, "config": config, "psnr": psnr, "travel": travel}
            records.append(record)
            if args.out:
                with open(args.out, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
    _report(console, records, args)


def _report(console: Console, records: List[dict], args: RefinementGroups) -> None:
    configs = list(dict.fromkeys(r["config"] for r in records))
    steps = sorted({int(step) for r in records for step in r["psnr"]})
    means = {}
    for config in configs:
        rows = [r["psnr"] for r in records if r["config"] == config]
        means[config] = [statistics.fmean(float(row[str(s)] if str(s) in row else row[s]) for row in rows) for s in steps]
    scenes = len({r["scene"] for r in records})
    table = Table(title=f"mean target PSNR over {scenes} held-out scenes")
    table.add_column("ablation")
    for step in steps:
        table.add_column(f"step {step}", justify="right")
    for config in configs:
        table.add_row(config, *[f"{value:.2f}" for value in means[config]])
    console.print(table)
    travelled = [r["travel"] for r in records if r["travel"]]
    if travelled:
        table = Table(title="travel of ablation 'all' / (steps x lr): median over scenes of per-parameter median and 90th percentile")
        table.add_column("group")
        table.add_column("median", justify="right")
        table.add_column("90th percentile", justify="right")
        for key in travelled[0]:
            table.add_row(key, *[f"{statistics.median(t[key][i] for t in travelled):.3f}" for i in (0, 1)])
        console.print(table)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axis = plt.subplots(figsize=(7, 4.5))
        for index, config in enumerate(configs):
            axis.plot(steps, means[config], marker="o", label=config, linestyle="-" if index < 10 else "--")
        axis.set_xlabel("refinement steps")
        axis.set_ylabel(f"target-view PSNR (dB), mean over {scenes} scenes")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
        plt.close(figure)
        console.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main(tyro.cli(RefinementGroups))
