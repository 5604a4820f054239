"""One call from (seed, scene index) to a fully rendered multi-view scene."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from foresplat_ns.scenes.cameras import CameraRig, sample_rig
from foresplat_ns.scenes.compose import SceneContent, assemble, bounding_sphere, sample_objects
from foresplat_ns.scenes.primitives import BACKGROUND_KINDS
from foresplat_ns.scenes.render import render

LayoutChoice = Literal["orbit", "forward", "mixed"]
BackgroundChoice = Literal["sky", "room", "mixed"]

# Independent random streams per aspect, so e.g. asking for more views keeps the same objects.
_STREAM_CONTENT, _STREAM_CAMERAS, _STREAM_SURROUNDINGS, _STREAM_POINTS = range(4)


def scene_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one aspect of scene ``index`` under ``seed``."""
    return np.random.default_rng([int(seed), int(index), int(stream)])


@dataclass
class Scene:
    """A rendered multi-view scene with its cameras, depth and a sparse point cloud."""

    index: int
    """Global scene index."""
    seed: int
    """Generator seed."""
    layout: str
    """Camera layout, ``"orbit"`` or ``"forward"``."""
    background: str
    """``"sky"`` or ``"room"``."""
    images: np.ndarray
    """sRGB colours in [0, 1] (exactly the stored 8-bit values / 255), [V, H, W, 3] float32."""
    depths: np.ndarray
    """z-depth along the optical axis in scene units, [V, H, W] float32."""
    prim_ids: np.ndarray
    """Id of the primitive seen at each pixel centre, [V, H, W] int16 (see ``content.primitives``)."""
    c2w: np.ndarray
    """OpenGL camera-to-world poses (x right, y up, looking along -z), [V, 4, 4] float64."""
    intrinsics: np.ndarray
    """(fx, fy, cx, cy) per view in pixels, [V, 4] float64."""
    width: int
    """Image width."""
    height: int
    """Image height."""
    points: np.ndarray
    """Sparse SfM-like point cloud on visible surfaces, [P, 3] float32."""
    colors: np.ndarray
    """Point colours, [P, 3] uint8."""
    near: float
    """Lower bound of the depth over all views."""
    far: float
    """Upper bound of the depth over all views (includes the background)."""
    content: SceneContent
    """The geometry, materials and light that were rendered."""
    shared_intrinsics: bool = False
    """True when all views share one focal length with a centred principal point."""
    meta: dict = field(default_factory=dict)
    """JSON-friendly description of the scene."""

    @property
    def num_views(self) -> int:
        """Number of views."""
        return len(self.c2w)

    @property
    def images_uint8(self) -> np.ndarray:
        """Images as stored, [V, H, W, 3] uint8."""
        return np.round(self.images * 255.0).astype(np.uint8)

    @property
    def background_mask(self) -> np.ndarray:
        """Pixels showing the sky dome or room walls, [V, H, W] bool."""
        return np.isin(self.prim_ids, self.content.ids_of(BACKGROUND_KINDS))

    @property
    def rig(self) -> CameraRig:
        """The cameras as a :class:`CameraRig`."""
        return CameraRig(self.c2w, self.intrinsics, self.width, self.height, self.layout)


def choose_layout(seed: int, index: int, layout: str, background: str) -> tuple[str, str]:
    """Resolve ``"mixed"`` choices for one scene, deterministically from (seed, index)."""
    rng = scene_rng(seed, index, _STREAM_CONTENT)
    u_layout, u_background = rng.random(2)
    if layout == "mixed":
        layout = "orbit" if u_layout < 0.5 else "forward"
    if background == "mixed":
        background = "sky" if u_background < 0.5 else "room"
    return layout, background


def sample_point_cloud(
    rng: np.random.Generator,
    points: np.ndarray,
    colors: np.ndarray,
    valid: np.ndarray,
    num_points: int,
    noise: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Subsample pixel-centre hits into a noisy coloured point cloud (an SfM stand-in)."""
    idx = np.nonzero(valid.reshape(-1))[0]
    if idx.size > num_points:
        idx = np.sort(rng.choice(idx, size=num_points, replace=False))
    xyz = points.reshape(-1, 3)[idx].astype(np.float64)
    xyz += rng.normal(0.0, noise, size=xyz.shape)
    rgb = colors.reshape(-1, 3)[idx].astype(np.int16) + rng.integers(-4, 5, size=(len(idx), 3))
    return xyz.astype(np.float32), np.clip(rgb, 0, 255).astype(np.uint8)


def generate_scene(
    index: int,
    seed: int = 0,
    views: int = 24,
    resolution: int = 64,
    layout: LayoutChoice = "mixed",
    background: BackgroundChoice = "mixed",
    supersample: int = 2,
    shadows: bool = True,
    shared_intrinsics: bool = False,
    fov_range: tuple[float, float] = (40.0, 75.0),
    num_points: int = 4000,
    point_noise: float = 0.004,
    aspect: float = 1.0,
    min_objects: int = 3,
    max_objects: int = 8,
) -> Scene:
    """Generate and render scene ``index`` for ``seed``; the result depends only on the arguments.

    Args:
        index: Global scene index.
        seed: Dataset seed.
        views: Number of views.
        resolution: Image height in pixels (width is ``round(resolution * aspect)``).
        layout: Camera layout, or ``"mixed"`` to pick one per scene.
        background: Sky dome or room, or ``"mixed"`` to pick one per scene.
        supersample: Samples per pixel along each axis (anti-aliasing).
        shadows: Render hard shadows.
        shared_intrinsics: One focal length and a centred principal point for all views.
        fov_range: Range of the horizontal field of view in degrees.
        num_points: Size of the sparse point cloud.
        point_noise: Standard deviation of the point positions' noise, scene units.
        aspect: Width / height.
        min_objects: Fewest objects in the scene.
        max_objects: Most objects in the scene.
    """
    height = int(resolution)
    width = int(round(resolution * aspect))
    layout_name, background_name = choose_layout(seed, index, layout, background)

    content_rng = scene_rng(seed, index, _STREAM_CONTENT)
    content_rng.random(2)  # the draws used by choose_layout
    objects = sample_objects(content_rng, min_objects, max_objects)
    center, radius = bounding_sphere(objects)

    rig = sample_rig(
        scene_rng(seed, index, _STREAM_CAMERAS),
        layout_name,  # type: ignore[arg-type]
        views,
        width,
        height,
        center,
        radius,
        fov_range,
        shared_intrinsics,
    )
    content = assemble(scene_rng(seed, index, _STREAM_SURROUNDINGS), objects, background_name, rig.origins)
    out = render(content, rig, supersample=supersample, shadows=shadows)

    valid = np.isin(out.prim_ids, content.ids_of(("ground", "sphere", "box", "cylinder", "room")))
    xyz, rgb = sample_point_cloud(
        scene_rng(seed, index, _STREAM_POINTS), out.points, out.images, valid, num_points, point_noise
    )
    hit = out.prim_ids >= 0
    near = float(0.9 * out.depths[hit].min())
    far = float(1.1 * out.depths[hit].max())
    meta = {
        "index": int(index),
        "seed": int(seed),
        "layout": layout_name,
        "background": background_name,
        "near": round(near, 6),
        "far": round(far, 6),
        "scene_center": [round(float(c), 6) for c in content.center],
        "scene_radius": round(float(content.radius), 6),
        "up": [0.0, 0.0, 1.0],
        "depth_type": "z",
        "supersample": int(supersample),
        "shadows": bool(shadows),
        **content.meta,
    }
    return Scene(
        index=int(index),
        seed=int(seed),
        layout=layout_name,
        background=background_name,
        images=out.images.astype(np.float32) / 255.0,
        depths=out.depths,
        prim_ids=out.prim_ids,
        c2w=rig.c2w,
        intrinsics=rig.intrinsics,
        width=width,
        height=height,
        points=xyz,
        colors=rgb,
        near=near,
        far=far,
        content=content,
        shared_intrinsics=shared_intrinsics,
        meta=meta,
    )

