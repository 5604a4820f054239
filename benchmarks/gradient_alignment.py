"""How different is a meta-gradient from the zero-step gradient? Cosines on held-out scenes.

For an initializer run and a few held-out scenes: the target-view gradient at the prediction (what
zero-step training follows) against the target-view gradient after K refinement steps (MetaGrad's
anchor at K, for several K and inner learning-rate scales) and against the IFT hypergradient.
A cosine near 1 means that meta-gradient cannot teach the network anything zero-step training
does not. Usage:

    python benchmarks/gradient_alignment.py --run RUN [--scenes DIR] [--num-scenes 2] [--num-refine 8]

With `--num-refine`, the inner loop also refines on that many views the network does not see (as
`--pipeline.datamanager.num-refine` in training). Also printed: the target PSNR each inner loop reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import torch
import tyro

from foresplat_ns.benchmark.run import BenchConfig, select_views
from foresplat_ns.data.builtin import builtin_scenes
from foresplat_ns.data.scene_batch import with_refinement_views
from foresplat_ns.data.scene_folder import find_scenes, load_scene
from foresplat_ns.meta.ift import IFTConfig, hessian_product, hutchinson_diagonal, hypergradient, squared_error_residual
from foresplat_ns.meta.inner import InnerLoop, InnerLoopConfig
from foresplat_ns.meta.linear_solve import cosine
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.meta.step import MetaConfig, outer_gradient, training_background
from foresplat_ns.models.checkpoints import load_initializer


@dataclass
class Alignment:
    """Cosines between meta-gradients and the zero-step gradient."""

    run: Path
    """A `ns-train foresplat` run folder or checkpoint."""
    scenes: Path = field(default_factory=builtin_scenes)
    """Folder of scenes; its eval/ split is used when present."""
    num_scenes: int = 2
    """Held-out scenes to measure."""
    horizons: List[Tuple[float, int]] = field(default_factory=lambda: [(1, 10), (1, 30), (1, 100), (1, 300), (5, 20), (10, 30)])
    """(inner learning-rate scale, K) pairs."""
    ift_steps: int = 10
    """K of the IFT measurement (learning-rate scale 1)."""
    cg_iterations: int = 20
    """CG iterations of the IFT measurement."""
    threads: int = 1
    """torch CPU threads."""
    num_refine: int = 0
    """Extra refinement views beside the context views (drawn near the targets); 0: the context views only."""


def main(cmd: Alignment) -> None:
    torch.set_num_threads(cmd.threads)
    net, _, _, _ = load_initializer(cmd.run)
    net.eval()
    split = "eval" if (cmd.scenes / "eval").is_dir() else "all"
    config = MetaConfig(context_weight=0.0)
    rows: Dict[str, List[float]] = {}
    gains: Dict[str, List[float]] = {}
    for index, entry in enumerate(find_scenes(cmd.scenes, split)[: cmd.num_scenes]):
        scene = load_scene(entry, 64)
        batch = with_refinement_views(scene, select_views(scene, index, BenchConfig()), cmd.num_refine, index)
        norm = Normalisation.of_batch(batch)
        nb = norm.batch(batch)
        with torch.no_grad():
            prediction = norm.gaussians(net(batch.context_images, batch.context_cameras, batch.near, batch.far))
        background = training_background(config, index, prediction.means.device)
        zero, m0 = outer_gradient(prediction, nb, config, background, targets_only=True)
        images, cameras = nb.refinement_views()
        for scale, k in cmd.horizons:
            loop = InnerLoop(InnerLoopConfig(lr_scale=scale), prediction, images, cameras, seed=index)
            loop.run(k)
            anchor, m = outer_gradient(loop.gaussians(), nb, config, background, targets_only=True)
            name = f"MetaGrad anchor, K={k}, inner lr x{scale:g}"
            rows.setdefault(name, []).append(cosine(anchor, zero))
            gains.setdefault(name, []).append(float(m["target_psnr"] - m0["target_psnr"]))
        if prediction.confidence is not None:
            settings = IFTConfig(cg_iterations=cmd.cg_iterations)
            weights = proximal_weights(prediction.confidence, settings)
            loop = InnerLoop(InnerLoopConfig(), prediction, images, cameras, seed=index, proximal=weights)
            loop.run(cmd.ift_steps)
            star = loop.gaussians().params()
            outer, _ = outer_gradient(loop.gaussians(), nb, config, background, targets_only=True)
            residual = squared_error_residual(images, cameras, background)
            hessian = lambda v: hessian_product(residual, star, v, "forward", 1e-3)  # noqa: E731
            result = hypergradient(hessian, outer, weights, star, prediction.params(), settings, hutchinson_diagonal(hessian, star, 1))
            rows.setdefault(f"IFT dL/dθ0, K={cmd.ift_steps}, {cmd.cg_iterations} CG iterations", []).append(cosine(result.theta0, zero))
        print(f"{scene.name} done", flush=True)
    print("\n| meta-gradient | cosine with the zero-step gradient (per scene) | target PSNR gain of the inner loop (dB) |")
    print("|---|---|---|")
    for name, values in rows.items():
        gain = " / ".join(f"{g:+.2f}" for g in gains.get(name, []))
        print(f"| {name} | {' / '.join(f'{v:.3f}' for v in values)} | {gain or '-'} |")


if __name__ == "__main__":
    main(tyro.cli(Alignment))
