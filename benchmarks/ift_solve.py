"""How exact is the IFT hypergradient after k conjugate-gradient iterations? Measured on held-out scenes.

For an IFT-trained run, each held-out scene goes through one IFT meta-step exactly as in training
(proximal inner loop from the prediction, target-view gradient at θ*, Gauss-Newton products on
`hessian_views` refinement views, Jacobi preconditioner), except that the solve runs to
`max(iterations)` with no tolerance. At every listed iteration k it prints, as medians over scenes:
the relative residual of (H + Λ) u = ∇L_out(θ*), the cosine of ∂L/∂θ0 = Λu_k and of ∂L/∂λ with their
values at the last iteration, and the cosine and norm ratio of Λu_k to the zero-step gradient. λ comes from
the run's own λ range and group scales. Usage:

    python benchmarks/ift_solve.py --run RUN [--inner-steps 10 --lr-scale 5] [--iterations 1 2 5 10 20 40 80]

`--inner-steps`, `--lr-scale`, `--num-context`, `--num-refine`, `--hessian-views` and `--diagonal-samples` should match the run's training
flags (`--pipeline.meta.inner-steps`, `--pipeline.meta.inner.lr-scale`, ...).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import tyro
from rich.console import Console
from rich.table import Table

from foresplat_ns.benchmark.run import BenchConfig, select_views
from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_batch import with_refinement_views
from foresplat_ns.data.scene_folder import SceneDataError, find_scenes, load_scene
from foresplat_ns.meta.ift import IFTConfig, hypergradient, implicit_gradients
from foresplat_ns.meta.inner import InnerLoopConfig
from foresplat_ns.meta.linear_solve import cosine
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.meta.step import MetaConfig, outer_gradient, proximal_problem, training_background
from foresplat_ns.models.checkpoints import CheckpointError, load_initializer, trained_proximal

CONSOLE = Console()


@dataclass
class SolveStudy:
    """Accuracy of the IFT hypergradient against the number of CG iterations."""

    run: Path
    """An `ns-train foresplat --pipeline.meta.mode ift` run folder or checkpoint (needs the confidence head)."""
    scenes: Path = field(default_factory=builtin_scenes)
    """Folder of scenes; its eval/ split is used when present."""
    num_scenes: int = 3
    """Held-out scenes to measure."""
    inner_steps: int = 10
    """K of the proximal inner loop, as the run's `--pipeline.meta.inner-steps`."""
    lr_scale: float = 5.0
    """Inner learning-rate scale, as the run's `--pipeline.meta.inner.lr-scale`."""
    num_context: int = 4
    """Context views the network sees, as the run's `--pipeline.datamanager.num-context`."""
    num_refine: int = 8
    """Refinement views beside the context views, as the run's `--pipeline.datamanager.num-refine`."""
    hessian_views: Optional[int] = 4
    """Refinement views the Gauss-Newton products render, as `--pipeline.meta.ift.hessian-views`."""
    diagonal_samples: int = 4
    """Random-sign samples of the Jacobi preconditioner's diagonal, as `--pipeline.meta.ift.diagonal-samples`."""
    iterations: List[int] = field(default_factory=lambda: [1, 2, 5, 10, 20, 40, 80])
    """CG iterations at which to measure; the solve runs to the largest with no tolerance."""
    threads: int = 1
    """torch CPU threads."""
    out: Optional[Path] = None
    """Write the per-scene measurements as JSON here."""


def l2_norm(a: Dict[str, torch.Tensor]) -> float:
    """Euclidean norm of a dict of tensors seen as one vector."""
    return float(np.sqrt(sum(float((t**2).sum()) for t in a.values())))


def measure_scene(cmd: SolveStudy, net: torch.nn.Module, trained: IFTConfig, entry: Path, index: int) -> List[dict]:
    """One IFT meta-step on a held-out scene, with the run's λ range and group scales; a record per listed iteration."""
    scene = load_scene(entry, 64)
    views = select_views(scene, index, BenchConfig(num_context=cmd.num_context))
    batch = with_refinement_views(scene, views, cmd.num_refine, index)
    norm = Normalisation.of_batch(batch)
    nb = norm.batch(batch)
    with torch.no_grad():
        raw = net(batch.context_images, batch.context_cameras, batch.near, batch.far)
    if raw.confidence is None:
        raise SystemExit(f"ift_solve.py: {cmd.run} has no confidence head; pass a run trained with --pipeline.meta.mode ift")
    prediction = norm.gaussians(raw)
    settings = replace(trained, cg_iterations=max(cmd.iterations), cg_rtol=0.0, hessian_views=cmd.hessian_views,
                       diagonal_samples=cmd.diagonal_samples)
    inner = InnerLoopConfig(lr_scale=cmd.lr_scale, densify=False)
    config = MetaConfig(inner_steps=cmd.inner_steps, inner=inner, ift=settings)
    weights = proximal_weights(raw.confidence, settings)
    background = training_background(config, index, prediction.means.device)
    zero, _ = outer_gradient(prediction, nb, config, background, targets_only=True)

    problem = proximal_problem(config, prediction, weights, nb, index, background)
    star, theta0 = problem.theta_star, prediction.params()

    iterates: Dict[int, tuple] = {}
    wanted = set(cmd.iterations)

    def record(iteration: int, u: Dict[str, torch.Tensor], relative: float) -> None:
        if iteration in wanted:
            iterates[iteration] = (implicit_gradients(u, weights, star, theta0), relative, time.perf_counter())

    begin = time.perf_counter()
    final = hypergradient(
        problem.hessian, problem.outer_grad, weights, star, theta0, config.ift, problem.diagonal, callback=record
    )
    (ref_theta0, ref_lambda) = (final.theta0, final.lambdas)
    records = []
    for k in sorted(iterates):
        (d_theta0, d_lambda), relative, stamp = iterates[k]
        records.append(
            {
                "scene": scene.name,
                "iteration": k,
                "relative_residual": relative,
                "cos_theta0_vs_last": cosine(d_theta0, ref_theta0),
                "cos_lambda_vs_last": cosine(d_lambda, ref_lambda),
                "cos_theta0_vs_zero_step": cosine(d_theta0, zero),
                "norm_theta0_over_zero_step": l2_norm(d_theta0) / l2_norm(zero),
                "seconds": stamp - begin,
            }
        )
    return records


def main(cmd: SolveStudy) -> None:
    """Runs the study and prints the table."""
    torch.set_num_threads(cmd.threads)
    if not cmd.iterations or min(cmd.iterations) < 1:
        raise SystemExit("ift_solve.py: --iterations needs positive iteration counts, e.g. --iterations 1 5 20")
    net, _, _, _ = load_initializer(cmd.run)
    net.eval()
    trained = trained_proximal(cmd.run)
    if trained is None:
        raise SystemExit(f"ift_solve.py: {cmd.run} was not trained with --pipeline.meta.mode ift; pass an IFT run")
    split = "eval" if (cmd.scenes / "eval").is_dir() else "all"
    entries = find_scenes(cmd.scenes, split)[: cmd.num_scenes]
    if not entries:
        raise SystemExit(f"ift_solve.py: no scenes in {cmd.scenes}; pass --scenes with a folder of generated scenes")
    records: List[dict] = []
    for index, entry in enumerate(entries):
        records += measure_scene(cmd, net, trained, entry, index)
        CONSOLE.print(f"{records[-1]['scene']}: done")
    table = Table(title=f"∂L/∂θ0 and ∂L/∂λ against CG iterations (median over {len(entries)} scenes)")
    columns = {
        "relative_residual": ("rel. residual", "{:.3g}"),
        "cos_theta0_vs_last": ("cos θ0 / last", "{:.3f}"),
        "cos_lambda_vs_last": ("cos λ / last", "{:.3f}"),
        "cos_theta0_vs_zero_step": ("cos θ0 / zero-step", "{:.3f}"),
        "norm_theta0_over_zero_step": ("|θ0| / |zero-step|", "{:.3g}"),
        "seconds": ("s", "{:.1f}"),
    }
    table.add_column("CG its", justify="right")
    for title, _ in columns.values():
        table.add_column(title, justify="right")
    for k in sorted({r["iteration"] for r in records}):
        rows = [r for r in records if r["iteration"] == k]
        cells = [fmt.format(float(np.median([r[key] for r in rows]))) for key, (_, fmt) in columns.items()]
        table.add_row(str(k), *cells)
    CONSOLE.print(table)
    if cmd.out is not None:
        cmd.out.parent.mkdir(parents=True, exist_ok=True)
        cmd.out.write_text(json.dumps(records, indent=1))
        CONSOLE.print(f"records in {cmd.out}")


if __name__ == "__main__":
    try:
        main(tyro.cli(SolveStudy))
    except (CheckpointError, SceneDataError) as error:
        raise SystemExit(f"ift_solve.py: {error}") from None
