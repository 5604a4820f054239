"""Quality against refinement steps for every way of starting splatfacto, on held-out scenes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from pytorch_msssim import ssim
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.data.scene_batch import SceneBatch, camera_distances, choose_views, make_batch, spread_views
from foresplat_ns.data.scene_folder import Scene
from foresplat_ns.gaussians import Gaussians
from foresplat_ns.meta.inner import InnerLoop, InnerLoopConfig, random_start, splatfacto_start
from foresplat_ns.meta.losses import disparity_loss, psnr
from foresplat_ns.meta.normalise import Normalisation
from foresplat_ns.meta.proximal import proximal_weights
from foresplat_ns.rendering.views import render_views


class StartError(ValueError):
    """A start that cannot be used, in one line."""


@dataclass
class Start:
    """A way to obtain the initial Gaussians of a scene."""

    name: str
    """Label in tables and plots."""
    make: Callable[[SceneBatch, Scene], Gaussians]
    """Initial Gaussians from the context views (and the scene's point cloud), world frame of the scene."""
    sh_schedule: str = "splatfacto"
    """SH schedule of its refinement: splatfacto's (from degree 0) or 'full' for predicted SH."""
    proximal: Optional[object] = None
    """The `IFTConfig` of an initializer meta-trained with IFT: refinement adds its proximal term."""


def parse_start(
    spec: str, num_random: int = 10000, seed: int = 0, network_views: Optional[int] = None,
    opacity_views: Optional[int] = None,
) -> Start:
    """`splatfacto`, `splatfacto-context`, `random`, or `NAME=PATH` (a `ns-train foresplat` run folder or checkpoint).

    `splatfacto-context` keeps only the points inside some context view's frustum: what an SfM seed of
    the context views alone could contain. A network sees at most `network_views` context views, evenly
    spread as in `foresplat-refine` (all of them if None). `opacity_views` overrides the input views a network's
    opacities are calibrated for (`load_initializer`; 0: no correction).
    """
    if spec in ("splatfacto", "splatfacto-context"):
        def make(batch: SceneBatch, scene: Scene) -> Gaussians:
            if scene.points is None or len(scene.points) < 4:
                raise StartError(f"scene {scene.name} has no point cloud: the splatfacto start needs one (use random)")
            points, colors = scene.points, scene.point_colors
            if spec == "splatfacto-context":
                keep = in_any_frustum(points, batch.context_cameras)
                points, colors = points[keep], colors[keep]
            return splatfacto_start(points, colors, seed=seed)

        return Start(spec, make)
    if spec == "random":
        def make(batch: SceneBatch, scene: Scene) -> Gaussians:
            lo, hi = _scene_box(scene)
            return random_start(lo, hi, num_random, seed=seed)

        return Start("random", make)
    if "=" not in spec:
        raise StartError(f"unknown start {spec!r}: use splatfacto, random or NAME=CHECKPOINT")
    name, path = spec.split("=", 1)
    from foresplat_ns.models.checkpoints import CheckpointError, load_initializer, trained_proximal

    try:
        initializer, _, _, _ = load_initializer(Path(path), opacity_views)
        proximal = trained_proximal(Path(path))
    except CheckpointError as error:
        raise StartError(f"start {name}: {error}") from None
    initializer.eval()

    @torch.no_grad()
    def make(batch: SceneBatch, scene: Scene) -> Gaussians:
        views = torch.tensor(spread_views(batch.context_images.shape[0], network_views))
        try:
            return initializer(batch.context_images[views], batch.context_cameras[views], batch.near, batch.far)
        except ValueError as error:
            raise StartError(f"start {name} on {scene.name}: {error}") from None

    return Start(name, make, sh_schedule="full", proximal=proximal)


def in_any_frustum(points: Tensor, cameras: Cameras) -> Tensor:
    """Mask of the points that project inside at least one camera's image, in front of it."""
    c2w = cameras.camera_to_worlds.reshape(-1, 3, 4)
    rel = points[None] - c2w[:, None, :, 3]
    local = torch.einsum("cpi,cij->cpj", rel, c2w[:, :, :3])  # camera frame, OpenGL axes
    z = -local[..., 2]
    u = cameras.fx.reshape(-1, 1) * local[..., 0] / z.clamp_min(1e-6) + cameras.cx.reshape(-1, 1)
    v = -cameras.fy.reshape(-1, 1) * local[..., 1] / z.clamp_min(1e-6) + cameras.cy.reshape(-1, 1)
    inside = (z > 0) & (u >= 0) & (v >= 0) & (u < cameras.width.reshape(-1, 1)) & (v < cameras.height.reshape(-1, 1))
    return inside.any(dim=0)


def _scene_box(scene: Scene) -> Tuple[Tensor, Tensor]:
    """Axis-aligned box of the point cloud, else of the cameras."""
    pts = scene.points if scene.points is not None and len(scene.points) else scene.cameras.camera_to_worlds[:, :3, 3]
    return pts.min(0).values, pts.max(0).values


@dataclass
class BenchConfig:
    """Settings shared by every start."""

    steps: List[int] = field(default_factory=lambda: [0, 10, 25, 50, 100, 200, 500, 1000])
    """Refinement steps at which target views are evaluated."""
    num_context: int = 4
    """Context views: network input and refinement supervision."""
    num_target: int = 4
    """Target views: evaluation only."""
    holdout_every: Optional[int] = None
    """Split as `foresplat-refine` does instead: every n-th view (view 0 first) is a target, all others are
    context (num_context and num_target are then not used)."""
    inner: InnerLoopConfig = field(default_factory=InnerLoopConfig)
    """The refinement (splatfacto's settings)."""
    seed: int = 0
    """Seed of view selection and view order."""


def select_views(scene: Scene, index: int, config: BenchConfig) -> SceneBatch:
    """Context and target views of a scene, reproducible from (seed, scene index)."""
    if config.holdout_every:
        views = range(len(scene.cameras))
        target = [v for v in views if v % config.holdout_every == 0]
        return make_batch(scene, [v for v in views if v % config.holdout_every != 0], target)
    rng = np.random.default_rng([config.seed, index])
    context, target = choose_views(camera_distances(scene.cameras), config.num_context, config.num_target, rng)
    return make_batch(scene, context, target)


@torch.no_grad()
def evaluate(
    gaussians: Gaussians, images: Tensor, cameras: Cameras, depths: Optional[Tensor] = None, near: float = 1.0
) -> Tuple[float, float, Optional[float], Tensor]:
    """PSNR, SSIM and (with depth maps) disparity error of the Gaussians on the given views (black background),
    and the renders."""
    views = render_views(gaussians, cameras, torch.zeros(3))
    renders = views.rgb.clamp(0.0, 1.0)
    structural = ssim(renders.permute(0, 3, 1, 2), images.permute(0, 3, 1, 2), data_range=1.0)
    error = None if depths is None else float(disparity_loss(views.depth, views.alpha, depths, near))
    return float(psnr(renders, images)), float(structural), error, renders


def refine_and_record(
    start: Start, scene: Scene, batch: SceneBatch, config: BenchConfig, on_renders: Optional[Callable] = None
) -> List[Dict]:
    """Refine from one start and record target-view quality (and geometry, with depth maps) at each listed step."""
    norm = Normalisation.of_batch(batch)
    normalised = norm.batch(batch)
    initial = norm.gaussians(start.make(batch, scene))
    inner_config = InnerLoopConfig(**{**vars(config.inner), "sh_schedule": start.sh_schedule})
    proximal = None
    if start.proximal is not None:
        fixed = start.proximal.lambda_min == start.proximal.lambda_max
        if initial.confidence is not None or fixed:
            # A fixed λ does not read the confidence; starts without one (splatfacto, random) take zeros.
            confidence = initial.confidence if initial.confidence is not None else torch.zeros(initial.num_gaussians, 1)
            proximal = proximal_weights(confidence, start.proximal)
    loop = InnerLoop(
        inner_config, initial, batch.context_images, normalised.context_cameras, seed=config.seed, proximal=proximal
    )
    records, elapsed = [], 0.0
    for step in sorted(set(config.steps)):
        begin = time.perf_counter()
        loop.run(step - loop.step_count)
        elapsed += time.perf_counter() - begin
        gaussians = loop.gaussians()
        value_psnr, value_ssim, error, renders = evaluate(
            gaussians, batch.target_images, normalised.target_cameras, normalised.target_depths, normalised.near
        )
        if on_renders is not None:
            on_renders(step, renders)
        records.append({
            "scene": scene.name, "start": start.name, "step": step, "psnr": value_psnr, "ssim": value_ssim,
            "disparity_error": error,
            "num_gaussians": gaussians.num_gaussians, "refine_seconds": elapsed,
        })
    return records
