"""`ns-train foresplat-refine`: splatfacto's pipeline, optionally seeded by a trained initializer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Literal, Optional, Type

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.cuda.amp.grad_scaler import GradScaler

from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig
from nerfstudio.utils.rich_utils import CONSOLE

from foresplat_ns.compat import require_device
from foresplat_ns.data.scene_batch import spread_views
from foresplat_ns.data.scene_folder import estimate_depth_range, stated_depth_range, working_size
from foresplat_ns.gaussians import Gaussians


@dataclass
class ForesplatRefinePipelineConfig(VanillaPipelineConfig):
    """Splatfacto's pipeline; with `--pipeline.model.initializer-checkpoint` it starts from the network's prediction."""

    _target: Type = field(default_factory=lambda: ForesplatRefinePipeline)
    """Target class to instantiate."""


class ForesplatRefinePipeline(VanillaPipeline):
    """VanillaPipeline that replaces splatfacto's initial Gaussians with the initializer's prediction."""

    def __init__(
        self,
        config: ForesplatRefinePipelineConfig,
        device: str,
        test_mode: Literal["test", "val", "inference"] = "val",
        world_size: int = 1,
        local_rank: int = 0,
        grad_scaler: Optional[GradScaler] = None,
    ):
        require_device(device)
        super().__init__(config, device, test_mode, world_size, local_rank, grad_scaler)
        checkpoint = getattr(self.model.config, "initializer_checkpoint", None)
        # Only a training run starts from the prediction; evaluation and export load trained Gaussians.
        if checkpoint is not None and test_mode == "val":
            from foresplat_ns.models.checkpoints import CheckpointError, trained_proximal

            try:
                gaussians = self.predict_training_scene(Path(checkpoint))
                trained_with = trained_proximal(Path(checkpoint))
            except CheckpointError as error:
                raise SystemExit(f"foresplat: {error}") from None
            try:
                proximal = self.refinement_proximal(gaussians, trained_with)
            except ValueError as error:
                raise SystemExit(f"foresplat: {error}") from None
            self.model.seed_from(gaussians, proximal)

    def refinement_proximal(self, gaussians: Gaussians, trained_with) -> Optional[Dict[str, Tensor]]:
        """λ per group of the proximal term refinement adds (None: none): the fixed one asked for, else the one an
        IFT-trained initializer learned, kept on the chosen groups."""
        from foresplat_ns.meta.proximal import fixed_term, proximal_weights, restricted_term

        config = self.model.config
        fixed = getattr(config, "initializer_proximal_lambda", None)
        groups = getattr(config, "initializer_proximal_groups", None)
        hold = getattr(config, "initializer_proximal_hold", None)
        if hold is not None and hold < 1:
            raise ValueError(f"--pipeline.model.initializer-proximal-hold must be at least 1 (the steps that keep the full λ), got {hold}")
        if fixed is not None and not config.initializer_proximal:
            raise ValueError("--pipeline.model.initializer-proximal-lambda adds a term that initializer-proximal False drops: choose one")
        term = None
        if fixed is not None:
            term = fixed_term(fixed)
            CONSOLE.log(f"foresplat: refinement adds a fixed proximal term (λ {fixed:g} times the group scales)")
        elif trained_with is not None and gaussians.confidence is not None:
            if config.initializer_proximal:
                term = trained_with
                CONSOLE.log(
                    "foresplat: the initializer was trained with IFT: refinement keeps its proximal term "
                    "(--pipeline.model.initializer-proximal False drops it)"
                )
            else:
                CONSOLE.log("foresplat: the initializer was trained with IFT; refining without its proximal term")
        if term is None:
            return None
        if groups is not None:
            term = restricted_term(term, groups)
        confidence = gaussians.confidence
        if confidence is None:  # a fixed λ does not read it
            confidence = torch.zeros(gaussians.num_gaussians, 1, device=gaussians.means.device)
        return proximal_weights(confidence, term)

    @torch.no_grad()
    def predict_training_scene(self, checkpoint: Path) -> Gaussians:
        """The initializer's Gaussians from every training view, in this run's world frame."""
        from foresplat_ns.models.checkpoints import load_initializer

        initializer, config, ckpt, resolution = load_initializer(checkpoint, self.model.config.initializer_opacity_views)
        initializer.to(self.device).eval()
        dataset = self.datamanager.train_dataset
        views = spread_views(len(dataset), self.model.config.initializer_views)
        images = torch.stack([dataset.get_image_float32(i)[..., :3] for i in views])
        images, cameras = _rescale(images, dataset.cameras[torch.tensor(views)], resolution)
        near, far = self._depth_range(cameras)
        try:
            gaussians = initializer(images.to(self.device), cameras.to(self.device), near, far)
        except ValueError as error:
            raise SystemExit(f"foresplat: {error}; raise --pipeline.model.initializer-views") from None
        CONSOLE.log(
            f"foresplat: predicted {gaussians.num_gaussians} Gaussians from {len(views)} of {len(dataset)} training views "
            f"({images.shape[2]}x{images.shape[1]}, depth {near:.3g}..{far:.3g}) with {ckpt}"
        )
        if config.opacity_views and config.opacity_views != len(views):
            CONSOLE.log(
                f"foresplat: opacities corrected for {len(views)} input views (calibrated for {config.opacity_views}); "
                "--pipeline.model.initializer-opacity-views 0 turns this off"
            )
        return gaussians

    def _depth_range(self, cameras: Cameras) -> tuple[float, float]:
        """Near/far in the dataparser's frame: the scene's own bounds if it states them, else from its points."""
        outputs = self.datamanager.train_dataparser_outputs
        data = Path(self.datamanager.config.dataparser.data)
        stated = stated_depth_range(data if data.is_dir() else data.parent)
        if stated is not None:
            scale = float(outputs.dataparser_scale)
            return stated[0] * scale, stated[1] * scale
        return estimate_depth_range(cameras, outputs.metadata.get("points3D_xyz"))


def _rescale(images: torch.Tensor, cameras: Cameras, resolution: int) -> tuple[torch.Tensor, Cameras]:
    """Images and intrinsics at the working resolution the initializer was trained at."""
    height, width = images.shape[1:3]
    w, h = working_size(width, height, resolution)
    if (w, h) == (width, height):
        return images, cameras
    resized = F.interpolate(images.permute(0, 3, 1, 2), size=(h, w), mode="area").permute(0, 2, 3, 1)
    sx, sy = w / width, h / height
    scaled = Cameras(
        camera_to_worlds=cameras.camera_to_worlds, fx=cameras.fx * sx, fy=cameras.fy * sy,
        cx=cameras.cx * sx, cy=cameras.cy * sy, width=w, height=h, camera_type=CameraType.PERSPECTIVE,
    )
    return resized, scaled
