"""`foresplat-bench`: quality against refinement steps for every way of starting splatfacto."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import List, Literal, Optional

import numpy as np
import torch
import tyro
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nerfstudio.utils.rich_utils import CONSOLE

from foresplat_ns.benchmark.report import write_all
from foresplat_ns.benchmark.run import BenchConfig, StartError, parse_start, refine_and_record, select_views
from foresplat_ns.data.scene_folder import SceneDataError, find_scenes, load_scene
from foresplat_ns.meta.inner import InnerLoopConfig
from foresplat_ns.meta.proximal import fixed_term, restricted_term


@dataclass
class BenchCommand:
    """Refine held-out scenes from several starts and record target-view quality at each listed step."""

    scenes: Path
    """Folder of scenes (nerfstudio, Blender or COLMAP format); with train/ and eval/ inside, see --split."""
    split: Literal["eval", "train"] = "eval"
    """With train/ and eval/ inside --scenes: which to refine. eval holds scenes no network was trained on;
    train measures the scenes meta-training saw (with --max-scenes), to tell what a network learned from how
    well it generalises."""
    out: Path = Path("results/bench")
    """Output folder: results.json, results.csv, table.md, psnr_vs_steps.png, renders/."""
    starts: List[str] = field(default_factory=lambda: ["splatfacto", "random"])
    """Starts, comma- or space-separated: splatfacto (the scene's point cloud), splatfacto-context (its points
    inside the context views' frusta), random, NAME=RUN (a `ns-train foresplat` run folder or checkpoint file)."""
    steps: List[int] = field(default_factory=lambda: [0, 10, 25, 50, 100, 200, 500, 1000])
    """Refinement steps at which target views are evaluated."""
    resolution: int = 64
    """Working resolution: longer image side in pixels."""
    num_context: int = 4
    """Context views: network input and refinement supervision."""
    num_target: int = 4
    """Target views: evaluation only, never context."""
    holdout_every: Optional[int] = None
    """Split each scene as `foresplat-refine` does: every n-th view (view 0 first) is a target, the others are
    context; replaces num-context and num-target. 8 is foresplat-refine's split."""
    network_views: Optional[int] = None
    """Networks see at most this many of the context views (evenly spread), as `foresplat-refine`'s
    `initializer-views`; every context view still supervises refinement. None: all of them."""
    opacity_views: Optional[int] = None
    """A network's opacities are corrected when it sees another number of views than it was trained with
    (`--pipeline.model.initializer.opacity-views`); this overrides the number they count as calibrated for. None:
    each run's own (its context views per training step); 0: no correction (rounds 1-21 of docs/results/ROUNDS.md)."""
    max_scenes: Optional[int] = None
    """Use only the first scenes (sorted by path)."""
    densify: bool = False
    """Run splatfacto's densification during refinement (off: fixed topology, as in meta-training)."""
    lr_scale: float = 1.0
    """Multiplier of splatfacto's learning rates."""
    proximal: bool = True
    """Refine starts from IFT-trained networks with their proximal term, as they were trained and as
    `foresplat-refine` does; False refines them as plain splatfacto (to tell the prediction from the term)."""
    proximal_groups: Optional[List[str]] = None
    """Keep a start's proximal term (an IFT-trained start's own, or --proximal-lambda's) on these parameter groups
    only (means, log_scales, quats, logit_opacities, sh_dc, sh_rest); the others refine freely. Tells which group's
    term costs. None: every group."""
    proximal_lambda: Optional[float] = None
    """Refine every start with a fixed proximal term ½ λ s_g (θ − θ0)², whether or not its network was trained with
    IFT: λ this value, s_g IFT's default scale of each group (`--pipeline.meta.ift.group-scales`), θ0 the start; a
    learned λ is replaced. With --proximal-groups on those groups only. Tells whether a term helps any start. None:
    only IFT-trained starts keep their own term."""
    proximal_hold: Optional[int] = None
    """Refinement steps for which a start's proximal term keeps its full λ; at a later step t it is λ · hold / t,
    falling as the pull of t Adam steps does. Set to the K inner steps an IFT network was trained with (30 in the
    foresplat-metagrad preset), refinement keeps the learned term for as long as training did (README, round 39: it
    removes the late cost of a term on the shape, and the late gain of one on the colours). None: the full λ."""
    num_random: int = 10000
    """Gaussians of the random start."""
    reference: Optional[str] = None
    """Start whose best PSNR defines the headline 'steps to reach'; default: a start named zero-step, else the first."""
    seed: int = 0
    """Seed of view selection, random starts and view order."""
    save_renders: bool = True
    """Save each start's target-view renders at each listed step under renders/."""
    threads: Optional[int] = None
    """torch CPU threads (default: torch's choice)."""


def run(cmd: BenchCommand) -> str:
    """Run the benchmark; returns the markdown table."""
    if cmd.threads:
        torch.set_num_threads(cmd.threads)
    specs = [s for item in cmd.starts for s in item.split(",") if s]
    starts = [parse_start(s, cmd.num_random, cmd.seed, cmd.network_views, cmd.opacity_views) for s in specs]
    if cmd.proximal_lambda is not None:
        if not cmd.proximal:
            raise StartError("--proximal-lambda adds a term and --no-proximal removes it: choose one")
        starts = [fixed_proximal(start, cmd.proximal_lambda) for start in starts]
    if not cmd.proximal:
        starts = [replace(start, proximal=None) for start in starts]
    elif cmd.proximal_groups is not None:
        starts = [restrict_proximal(start, cmd.proximal_groups) for start in starts]
    split = cmd.split if (cmd.scenes / cmd.split).is_dir() else "all"
    entries = find_scenes(cmd.scenes, split)[: cmd.max_scenes]
    config = BenchConfig(
        steps=sorted(set(cmd.steps)), num_context=cmd.num_context, num_target=cmd.num_target, seed=cmd.seed,
        holdout_every=cmd.holdout_every,
        inner=InnerLoopConfig(lr_scale=cmd.lr_scale, densify=cmd.densify, proximal_hold=cmd.proximal_hold),
    )
    reference = cmd.reference or ("zero-step" if "zero-step" in [s.name for s in starts] else starts[0].name)
    records, begin = [], time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=CONSOLE) as progress:
        task = progress.add_task("scenes x starts", total=len(entries) * len(starts))
        for index, entry in enumerate(entries):
            scene = load_scene(entry, cmd.resolution)
            batch = select_views(scene, index, config)
            for number, start in enumerate(starts):
                progress.update(task, description=f"{scene.name} / {start.name}")
                saver = _saver(cmd.out / "renders" / scene.name / start.name, batch.target_images) if cmd.save_renders else None
                records += refine_and_record(start, scene, batch, config, saver)
                progress.advance(task)
                if not CONSOLE.is_terminal:
                    # A log file gets no live bar: one line per refinement instead.
                    last = records[-1]
                    done = index * len(starts) + number + 1
                    CONSOLE.print(
                        f"{done}/{len(entries) * len(starts)} {scene.name} / {start.name}: {last['psnr']:.2f} dB "
                        f"at step {last['step']}, {time.perf_counter() - begin:.0f} s",
                        soft_wrap=True,
                    )
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(cmd).items()}
    table = write_all(records, cmd.out, reference, settings, protocol(cmd))
    CONSOLE.print(table)
    CONSOLE.print(f"{len(entries)} scenes x {len(starts)} starts in {time.perf_counter() - begin:.0f} s; results in {cmd.out}")
    return table


def fixed_proximal(start, value: float):
    """`start` refined with a proximal term of fixed λ `value` (times IFT's default group scales) on every group."""
    try:
        return replace(start, proximal=fixed_term(value))
    except ValueError as error:
        raise StartError(f"--proximal-lambda: {error}") from None


def restrict_proximal(start, groups: List[str]):
    """`start` with its proximal term zeroed outside `groups` (a start without a term is returned as it is)."""
    try:
        term = restricted_term(start.proximal or fixed_term(1.0), groups)
    except ValueError as error:
        raise StartError(f"--proximal-groups: {error}") from None
    return start if start.proximal is None else replace(start, proximal=term)


def protocol(cmd: BenchCommand) -> str:
    """One line saying how each scene's views were used."""
    if cmd.holdout_every:
        n = cmd.holdout_every
        split = f"views 0, {n}, {2 * n}, ... are targets, the others context (foresplat-refine's split)"
    else:
        split = f"{cmd.num_context} context views around a seeded centre view, {cmd.num_target} targets near them"
    seen = f"networks see {cmd.network_views} of the context views" if cmd.network_views else "networks see every context view"
    scenes = "meta-training scenes; " if cmd.split == "train" and (cmd.scenes / "train").is_dir() else ""
    term = "" if cmd.proximal else ", no proximal term for IFT-trained starts"
    if cmd.proximal and cmd.proximal_lambda is not None:
        term = f", a fixed proximal term (λ {cmd.proximal_lambda:g} times the group scales) for every start"
    if cmd.proximal and cmd.proximal_groups is not None:
        term += f", proximal term on {', '.join(cmd.proximal_groups) or 'no group'} only"
    if cmd.proximal and cmd.proximal_hold is not None:
        term += f", the term's λ held for {cmd.proximal_hold} steps, then falling as 1/step"
    return (
        f"Protocol: {scenes}{split}; {seen}; {cmd.resolution} px; refinement with splatfacto's optimiser "
        f"(learning rates x{cmd.lr_scale:g}), densification {'on' if cmd.densify else 'off'}"
        f"{term}."
    )


def _saver(folder: Path, targets: torch.Tensor):
    """Writes, per step, the target views (top) over the renders (bottom) as one PNG."""
    folder.mkdir(parents=True, exist_ok=True)

    def save(step: int, renders: torch.Tensor) -> None:
        strip = torch.cat([torch.cat(list(targets), 1), torch.cat(list(renders), 1)], 0)
        Image.fromarray((strip.numpy() * 255).round().astype(np.uint8)).save(folder / f"step_{step:05d}.png")

    return save


def entrypoint() -> None:
    """Console entry point."""
    cmd = tyro.cli(BenchCommand)
    if cmd.proximal_hold is not None and cmd.proximal_hold < 1:
        raise SystemExit("foresplat-bench: --proximal-hold must be at least 1 (the steps that keep the full λ)")
    if cmd.holdout_every is not None and cmd.holdout_every < 2:
        raise SystemExit("foresplat-bench: --holdout-every must be at least 2 (every n-th view is a target, the rest context)")
    if cmd.network_views is not None and cmd.network_views < 1:
        raise SystemExit("foresplat-bench: --network-views must be at least 1 (or leave it out to give networks every context view)")
    try:
        run(cmd)
    except (StartError, SceneDataError) as error:
        raise SystemExit(f"foresplat-bench: {error}") from None


if __name__ == "__main__":
    entrypoint()
