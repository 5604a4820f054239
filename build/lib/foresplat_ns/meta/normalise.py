"""nerfstudio-like scene normalisation, where splatfacto's learning rates and thresholds apply."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.data.scene_batch import SceneBatch
from foresplat_ns.gaussians import Gaussians


@dataclass
class Normalisation:
    """Camera centres translated to their mean and scaled into [-1, 1], as nerfstudio's `auto_scale_poses`."""

    centre: Tensor
    scale: float

    @classmethod
    def of(cls, centres: Tensor) -> "Normalisation":
        """The normalisation of cameras with these centres [V, 3]."""
        centre = centres.mean(0)
        return cls(centre, 1.0 / float((centres - centre).abs().max().clamp_min(1e-6)))

    @classmethod
    def of_batch(cls, batch: SceneBatch) -> "Normalisation":
        """As nerfstudio would normalise the batch's scene: by all its cameras (context cameras if unknown)."""
        centres = batch.camera_centres
        if centres is None:
            centres = batch.context_cameras.camera_to_worlds.reshape(-1, 3, 4)[:, :3, 3]
        return cls.of(centres)

    def cameras(self, cameras: Cameras) -> Cameras:
        c2w = cameras.camera_to_worlds.clone()
        c2w[..., :3, 3] = (c2w[..., :3, 3] - self.centre) * self.scale
        return Cameras(camera_to_worlds=c2w, fx=cameras.fx, fy=cameras.fy, cx=cameras.cx, cy=cameras.cy,
                       width=cameras.width, height=cameras.height)

    def gaussians(self, g: Gaussians) -> Gaussians:
        """Differentiable: gradients reach the original Gaussians through it."""
        return g.replace(means=(g.means - self.centre) * self.scale, log_scales=g.log_scales + float(np.log(self.scale)))

    def batch(self, batch: SceneBatch) -> SceneBatch:
        return replace(
            batch,
            context_cameras=self.cameras(batch.context_cameras),
            target_cameras=self.cameras(batch.target_cameras),
            near=batch.near * self.scale,
            far=batch.far * self.scale,
            context_depths=None if batch.context_depths is None else batch.context_depths * self.scale,
            target_depths=None if batch.target_depths is None else batch.target_depths * self.scale,
            refine_cameras=None if batch.refine_cameras is None else self.cameras(batch.refine_cameras),
        )
