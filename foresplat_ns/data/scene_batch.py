"""Context/target view selection: one `SceneBatch` per meta-training step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.data.scene_folder import Scene, SceneDataError


@dataclass
class SceneBatch:
    """One scene's context views (network input, refinement supervision) and target views (held out)."""

    scene: str
    """Name of the scene."""
    context_indices: List[int]
    """Indices of the context views in the scene."""
    target_indices: List[int]
    """Indices of the target views; never equal to a context view."""
    context_images: Float[Tensor, "context height width 3"]
    context_cameras: Cameras
    target_images: Float[Tensor, "target height width 3"]
    target_cameras: Cameras
    near: float
    """Lower bound of scene depth."""
    far: float
    """Upper bound of scene depth."""
    context_depths: Optional[Float[Tensor, "context height width"]] = None
    target_depths: Optional[Float[Tensor, "target height width"]] = None
    camera_centres: Optional[Float[Tensor, "views 3"]] = None
    """Centres of all the scene's cameras: nerfstudio normalises a scene by all its poses."""

    def to(self, device: torch.device | str) -> "SceneBatch":
        """The same batch with every tensor on `device`."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return SceneBatch(
            scene=self.scene,
            context_indices=self.context_indices,
            target_indices=self.target_indices,
            context_images=move(self.context_images),
            context_cameras=self.context_cameras.to(device),
            target_images=move(self.target_images),
            target_cameras=self.target_cameras.to(device),
            near=self.near,
            far=self.far,
            context_depths=move(self.context_depths),
            target_depths=move(self.target_depths),
            camera_centres=move(self.camera_centres),
        )


def camera_distances(cameras: Cameras) -> Float[Tensor, "views views"]:
    """Pairwise distance between views: centre distance plus a viewing-direction term.

    The direction term (1 - cos of the angle between optical axes, scaled by the
    scene's camera spread) keeps cameras at one spot that look away from each other apart.
    """
    c2w = cameras.camera_to_worlds.float()
    centres = c2w[:, :3, 3]
    axes = -c2w[:, :3, 2]
    spread = (centres - centres.mean(0)).norm(dim=-1).max().clamp_min(1e-6)
    return torch.cdist(centres, centres) + spread * (1.0 - axes @ axes.T)


def choose_views(
    distances: Float[Tensor, "views views"], num_context: int, num_target: int, rng: np.random.Generator
) -> tuple[List[int], List[int]]:
    """Pick a random centre view, its `num_context` nearest views as context, and targets near them.

    Targets are drawn from the `2 * num_target` non-context views closest to the context set,
    so they see what the context saw, from new viewpoints.
    """
    views = distances.shape[0]
    if views < num_context + num_target:
        raise SceneDataError(
            f"a scene has {views} views but {num_context} context + {num_target} target views are needed: "
            "lower --num-context/--num-target or add views"
        )
    centre = int(rng.integers(views))
    context = torch.argsort(distances[centre], stable=True)[:num_context].tolist()
    rest = [v for v in range(views) if v not in context]
    to_context = distances[rest][:, context].min(dim=1).values
    pool = [rest[i] for i in torch.argsort(to_context, stable=True)[: 2 * num_target].tolist()]
    target = sorted(rng.choice(pool, size=num_target, replace=False).tolist())
    return sorted(context), target


def spread_views(count: int, limit: Optional[int]) -> List[int]:
    """Up to `limit` indices evenly spread over `count` views (all of them without a limit)."""
    if limit is None or count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)}) if limit > 1 else [count // 2]


def make_batch(scene: Scene, context: Sequence[int], target: Sequence[int]) -> SceneBatch:
    """Slice a scene into a `SceneBatch`."""
    context_t, target_t = torch.tensor(list(context)), torch.tensor(list(target))
    depth = scene.depths
    return SceneBatch(
        scene=scene.name,
        context_indices=list(context),
        target_indices=list(target),
        context_images=scene.images[context_t],
        context_cameras=scene.cameras[context_t],
        target_images=scene.images[target_t],
        target_cameras=scene.cameras[target_t],
        near=scene.near,
        far=scene.far,
        context_depths=None if depth is None else depth[context_t],
        target_depths=None if depth is None else depth[target_t],
        camera_centres=scene.cameras.camera_to_worlds[:, :3, 3].clone(),
    )


def sample_batch(scenes: Sequence[Scene], num_context: int, num_target: int, seed: int, step: int) -> SceneBatch:
    """The batch of a step: deterministic in (seed, step), independent of earlier calls."""
    rng = np.random.default_rng([seed, step])
    scene = scenes[int(rng.integers(len(scenes)))]
    context, target = choose_views(camera_distances(scene.cameras), num_context, num_target, rng)
    return make_batch(scene, context, target)
