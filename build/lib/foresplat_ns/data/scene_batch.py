"""Context/target view selection: one `SceneBatch` per meta-training step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.data.scene_folder import Scene, SceneDataError


@dataclass
class SceneBatch:
    """One scene's context views (network input, refinement supervision) and target views (held out).

    Optionally, extra refinement views supervise the inner refinement beside the context views without
    being network input, as in `foresplat-refine`, where the network sees a few of the views refinement uses.
    """

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
    refine_indices: Optional[List[int]] = None
    """Views the inner refinement is supervised by, context views first; None: the context views only."""
    refine_images: Optional[Float[Tensor, "refine height width 3"]] = None
    refine_cameras: Optional[Cameras] = None

    def refinement_views(self) -> Tuple[Float[Tensor, "refine height width 3"], Cameras]:
        """Images and cameras that supervise refinement: the context views, plus the extra refinement views if any."""
        if self.refine_images is None or self.refine_cameras is None:
            return self.context_images, self.context_cameras
        return self.refine_images, self.refine_cameras

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
            refine_indices=self.refine_indices,
            refine_images=move(self.refine_images),
            refine_cameras=None if self.refine_cameras is None else self.refine_cameras.to(device),
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
    target = draw_near(distances, [v for v in range(views) if v not in context], context, num_target, rng)
    return sorted(context), target


def draw_near(
    distances: Float[Tensor, "views views"], candidates: Sequence[int], anchors: Sequence[int], count: int,
    rng: np.random.Generator,
) -> List[int]:
    """`count` views drawn at random from the `2 * count` candidates closest to any of the anchor views, sorted."""
    closeness = distances[list(candidates)][:, list(anchors)].min(dim=1).values
    pool = [candidates[i] for i in torch.argsort(closeness, stable=True)[: 2 * count].tolist()]
    return sorted(rng.choice(pool, size=count, replace=False).tolist())


def choose_refinement(
    distances: Float[Tensor, "views views"], context: Sequence[int], target: Sequence[int], num_refine: int,
    rng: np.random.Generator,
) -> List[int]:
    """`num_refine` extra refinement views, drawn from the `2 * num_refine` remaining views closest to the targets.

    Like foresplat-refine's training views, they see what the targets see from other viewpoints.
    """
    if num_refine == 0:
        return []
    used = set(context) | set(target)
    rest = [v for v in range(distances.shape[0]) if v not in used]
    if len(rest) < num_refine:
        raise SceneDataError(
            f"a scene has {distances.shape[0]} views but {len(context)} context + {len(target)} target + "
            f"{num_refine} refinement views are needed: lower --num-refine or add views"
        )
    return draw_near(distances, rest, target, num_refine, rng)


def spread_views(count: int, limit: Optional[int]) -> List[int]:
    """Up to `limit` indices evenly spread over `count` views (all of them without a limit)."""
    if limit is None or count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)}) if limit > 1 else [count // 2]


def make_batch(
    scene: Scene, context: Sequence[int], target: Sequence[int], refine: Sequence[int] = ()
) -> SceneBatch:
    """Slice a scene into a `SceneBatch`; `refine` are extra refinement views (none: refinement uses the context)."""
    context_t, target_t = torch.tensor(list(context)), torch.tensor(list(target))
    refine_indices = list(context) + list(refine) if len(refine) else None
    refine_t = None if refine_indices is None else torch.tensor(refine_indices)
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
        refine_indices=refine_indices,
        refine_images=None if refine_t is None else scene.images[refine_t],
        refine_cameras=None if refine_t is None else scene.cameras[refine_t],
    )


def sample_batch(
    scenes: Sequence[Scene], num_context: int, num_target: int, seed: int, step: int, num_refine: int = 0
) -> SceneBatch:
    """The batch of a step: deterministic in (seed, step), independent of earlier calls.

    Extra refinement views are drawn after the context and targets, so they do not change them.
    """
    rng = np.random.default_rng([seed, step])
    scene = scenes[int(rng.integers(len(scenes)))]
    distances = camera_distances(scene.cameras)
    context, target = choose_views(distances, num_context, num_target, rng)
    refine = choose_refinement(distances, context, target, num_refine, rng)
    return make_batch(scene, context, target, refine)


def with_refinement_views(scene: Scene, batch: SceneBatch, num_refine: int, seed: int) -> SceneBatch:
    """`batch` with `num_refine` refinement views drawn near its targets (as in training); unchanged for 0."""
    if num_refine == 0:
        return batch
    distances, rng = camera_distances(scene.cameras), np.random.default_rng(seed)
    refine = choose_refinement(distances, batch.context_indices, batch.target_indices, num_refine, rng)
    return make_batch(scene, batch.context_indices, batch.target_indices, refine)
