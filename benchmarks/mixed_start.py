"""Where does one network's lead over another live? Refine starts that mix two networks' predictions.

Two `ns-train foresplat` runs from one common start predict Gaussians that correspond one to one (the
same pixel of the same context view gives the same Gaussian). For each held-out scene this script
refines, with the benchmark's protocol (`foresplat-bench --holdout-every 8 --network-views 8`), the
prediction of run A, of run B, and of A with some parameter groups taken from B (`--take`). If A with
B's geometry refines like B, B's lead is in its geometry; if it starts like A, A's start is in the
rest. Results are written as `foresplat-bench` writes them, so `foresplat-compare` reads them. Usage::

    python benchmarks/mixed_start.py --a zero-step=RUN_A --b metagrad=RUN_B --take means shape --out DIR
    python benchmarks/mixed_start.py --a zero-step=RUN_A --b zero-step=RUN_A \
        --take opacity-shift=-0.4 opacity-shift=-0.8 --scenes SCENES --split eval --steps 0 25   # choose a shift

Groups: means, scales, quats, opacities, colors (SH DC and rest), shape (scales, quats, opacities),
geometry (means, scales, quats), and opacity-offset: A's logit-opacities shifted by the difference of
the two predictions' mean logit-opacity in that scene (is B's opacity a per-Gaussian pattern or a
global calibration?), opacity-shift=X: A's logit-opacities shifted by X (B is not used), and opacity-power=P:
A's opacities a mapped to 1 - (1 - a)^P, one layer of which lets through what P layers of A's let through
(P = 0.5 undoes stacking twice as many views as the network was trained on; B is not used).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Literal, Optional

import torch
import tyro
from rich.progress import track

from foresplat_ns.benchmark.report import write_all
from foresplat_ns.benchmark.run import BenchConfig, Start, parse_start, refine_and_record, select_views
from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.initializer.adapter import stacked_opacity_logits

GROUPS: Dict[str, List[str]] = {
    "means": ["means"],
    "scales": ["log_scales"],
    "quats": ["quats"],
    "opacities": ["logit_opacities"],
    "colors": ["sh_dc", "sh_rest"],
    "shape": ["log_scales", "quats", "logit_opacities"],
    "geometry": ["means", "log_scales", "quats"],
    "opacity-offset": [],
}


@dataclass
class MixedStart:
    """Refine two networks' predictions and mixtures of them on held-out scenes."""

    a: str
    """NAME=RUN of the first network (the base of every mixture)."""
    b: str
    """NAME=RUN of the second network (the groups taken come from it)."""
    take: List[str] = field(default_factory=lambda: ["geometry", "colors"])
    """Groups to take from B into A's prediction, one mixture per group (see the module docstring)."""
    bases: bool = True
    """Also refine A's and B's own predictions (False: the mixtures only, when both were benchmarked already)."""
    scenes: Path = field(default_factory=builtin_scenes)
    """Folder of scenes; with train/ and eval/ inside, see --split."""
    split: Literal["eval", "train"] = "eval"
    """With train/ and eval/ inside --scenes: eval holds scenes no network was trained on (in a folder other than
    the benchmark's, a place to choose a setting such as an opacity shift); train, the scenes the networks saw."""
    steps: List[int] = field(default_factory=lambda: [0, 25, 100])
    """Refinement steps at which the target views are evaluated."""
    holdout_every: int = 8
    """Every n-th view is a target, the others context (foresplat-refine's split)."""
    network_views: int = 8
    """Context views the networks see, as `foresplat-bench --network-views`."""
    opacity_views: Optional[int] = None
    """Input views the networks' opacities count as calibrated for, as `foresplat-bench --opacity-views` (None: each
    run's context views per training step, so a network that sees more views is corrected; 0: no correction)."""
    resolution: int = 64
    """Working resolution: longer image side in pixels."""
    max_scenes: Optional[int] = None
    """Use only the first scenes (sorted by path)."""
    threads: int = 1
    """torch CPU threads."""
    out: Path = Path("results/mixed_start")
    """Output folder, in `foresplat-bench`'s layout."""


OPACITY_MAPS = {
    "opacity-shift": (lambda logits, x: logits + x, "opacity{:+g}"),
    "opacity-power": (stacked_opacity_logits, "opacity^{:g}"),
}
"""Maps of A's logit-opacities by a number (B is not used): the function and the start's name suffix."""


def opacity_mapped(a: Start, kind: str, value: str) -> Start:
    """A's prediction with its logit-opacities mapped by `OPACITY_MAPS[kind]` with the number `value`."""
    try:
        number = float(value)
    except ValueError:
        raise SystemExit(f"mixed_start: {kind}={value} needs a number, e.g. {kind}=0.5") from None
    if kind == "opacity-power" and number <= 0:
        raise SystemExit(f"mixed_start: {kind}={value} needs a positive power")
    fn, suffix = OPACITY_MAPS[kind]

    def make(batch, scene):
        base = a.make(batch, scene)
        return replace(base, logit_opacities=fn(base.logit_opacities, number))

    return Start(f"{a.name}:{suffix.format(number)}", make, sh_schedule=a.sh_schedule, proximal=a.proximal)


def mixture(a: Start, b: Start, group: str) -> Start:
    """A start that is A's prediction with `group` taken from B's."""
    kind, _, value = group.partition("=")
    if kind in OPACITY_MAPS:
        return opacity_mapped(a, kind, value)
    if group not in GROUPS:
        raise SystemExit(f"mixed_start: unknown group {group!r}; use one of {', '.join(GROUPS)}")

    def make(batch, scene):
        base, other = a.make(batch, scene), b.make(batch, scene)
        if base.num_gaussians != other.num_gaussians:
            raise SystemExit(f"mixed_start: the two networks predict {base.num_gaussians} and {other.num_gaussians} Gaussians")
        if group == "opacity-offset":
            offset = other.logit_opacities.mean() - base.logit_opacities.mean()
            return replace(base, logit_opacities=base.logit_opacities + offset)
        return replace(base, **{name: getattr(other, name) for name in GROUPS[group]})

    return Start(f"{a.name}+{b.name}:{group}", make, sh_schedule=a.sh_schedule, proximal=a.proximal)


def main(cmd: MixedStart) -> None:
    """Refine every start on every held-out scene and write the results."""
    torch.set_num_threads(cmd.threads)
    a, b = (parse_start(spec, network_views=cmd.network_views, opacity_views=cmd.opacity_views) for spec in (cmd.a, cmd.b))
    bases = [a] + ([b] if cmd.b != cmd.a else [])  # the same run twice is refined once
    starts = (bases if cmd.bases else []) + [mixture(a, b, group) for group in cmd.take]
    split = cmd.split if (cmd.scenes / cmd.split).is_dir() else "all"
    config = BenchConfig(steps=sorted(set(cmd.steps)), holdout_every=cmd.holdout_every)
    records = []
    for index, entry in enumerate(track(find_scenes(cmd.scenes, split)[: cmd.max_scenes], description="scenes")):
        scene = load_scene(entry, cmd.resolution)
        batch = select_views(scene, index, config)
        for start in starts:
            records += refine_and_record(start, scene, batch, config)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(cmd).items()}
    line = (f"Protocol: views 0, {cmd.holdout_every}, {2 * cmd.holdout_every}, ... are targets, the others context; "
            f"networks see {cmd.network_views} of the context views; {cmd.resolution} px; refinement with splatfacto's "
            f"optimiser; A+B:GROUP is A's prediction with B's GROUP.")
    print(write_all(records, cmd.out, a.name if cmd.bases else None, settings, line))


if __name__ == "__main__":
    main(tyro.cli(MixedStart))
