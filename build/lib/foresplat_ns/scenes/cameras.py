"""Camera rigs (orbit and forward-facing layouts), intrinsics and pixel rays.

Poses are OpenGL camera-to-world matrices as nerfstudio expects: camera x to
the right, y up, and the camera looks along its -z axis. Pixel (row i, col j)
has its centre at image coordinates (u, v) = (j + 0.5, i + 0.5), and its ray
direction in the camera frame is ((u - cx) / fx, -(v - cy) / fy, -1), matching
``nerfstudio.cameras.cameras.Cameras.generate_rays``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from foresplat_ns.scenes.geometry import axis_angle, normalize

Layout = Literal["orbit", "forward"]


@dataclass
class CameraRig:
    """Cameras of one scene."""

    c2w: np.ndarray
    """OpenGL camera-to-world poses, [V, 4, 4] float64."""
    intrinsics: np.ndarray
    """Pinhole intrinsics per view (fx, fy, cx, cy) in pixels, [V, 4] float64."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    layout: str
    """Layout that produced the poses."""

    @property
    def num_views(self) -> int:
        """Number of cameras."""
        return len(self.c2w)

    @property
    def origins(self) -> np.ndarray:
        """Camera centres, [V, 3]."""
        return self.c2w[:, :3, 3]


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """OpenGL camera-to-world [4, 4] at ``eye`` looking at ``target``, rolled by ``roll`` radians."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = normalize(np.asarray(target, dtype=np.float64) - eye)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(right) < 1e-8:
        # Looking straight along ``up``: any horizontal right vector will do.
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right = normalize(right)
    cam_up = np.cross(right, forward)
    rot = np.stack([right, cam_up, -forward], axis=1)
    if roll:
        rot = axis_angle(-forward, roll) @ rot
    c2w = np.eye(4)
    c2w[:3, :3] = rot
    c2w[:3, 3] = eye
    return c2w


def focal_from_fov(fov_deg: float, size: int) -> float:
    """Focal length in pixels for a field of view across ``size`` pixels."""
    return 0.5 * size / np.tan(0.5 * np.radians(fov_deg))


def sample_intrinsics(
    rng: np.random.Generator,
    num_views: int,
    width: int,
    height: int,
    fov_range: tuple[float, float] = (40.0, 75.0),
    shared: bool = False,
) -> np.ndarray:
    """Random pinhole intrinsics [V, 4] with a horizontal FOV drawn from ``fov_range`` (degrees).

    With ``shared`` every view has the same focal length and a centred principal
    point (what the Blender format can express); otherwise the focal length
    varies slightly per view (zoom) and the principal point is offset a little.
    """
    hfov = rng.uniform(*fov_range)
    fx = focal_from_fov(hfov, width)
    out = np.empty((num_views, 4))
    if shared:
        out[:] = (fx, fx, width / 2.0, height / 2.0)
        return out
    zoom = np.exp(rng.normal(0.0, 0.03, size=num_views))
    out[:, 0] = fx * zoom
    out[:, 1] = fx * zoom * np.exp(rng.normal(0.0, 0.002, size=num_views))
    out[:, 2] = width / 2.0 + rng.normal(0.0, 0.01 * width, size=num_views)
    out[:, 3] = height / 2.0 + rng.normal(0.0, 0.01 * height, size=num_views)
    return out


def min_fov(intrinsics: np.ndarray, width: int, height: int) -> float:
    """Smallest horizontal or vertical field of view of a rig, radians."""
    hfov = 2 * np.arctan(0.5 * width / intrinsics[:, 0])
    vfov = 2 * np.arctan(0.5 * height / intrinsics[:, 1])
    return float(min(hfov.min(), vfov.min()))


def orbit_poses(
    rng: np.random.Generator, num_views: int, center: np.ndarray, radius: float, fov: float
) -> np.ndarray:
    """Inward-facing 360° poses on a band of a sphere around ``center``.

    The distance is chosen so a sphere of ``radius`` roughly fills the smallest
    FOV; elevations lie in a random band, azimuths go around with jitter.
    """
    distance = max(radius / np.sin(0.5 * fov) * rng.uniform(0.75, 1.1), 1.25 * radius)
    el_mid = np.radians(rng.uniform(12.0, 45.0))
    el_half = np.radians(rng.uniform(3.0, 15.0))
    az0 = rng.uniform(0, 2 * np.pi)
    step = 2 * np.pi / num_views
    direction = 1.0 if rng.random() < 0.5 else -1.0
    poses = np.empty((num_views, 4, 4))
    for k in range(num_views):
        az = az0 + direction * step * k + rng.normal(0.0, 0.2 * step)
        el = np.clip(el_mid + rng.uniform(-el_half, el_half), np.radians(3.0), np.radians(70.0))
        dist = distance * rng.uniform(0.9, 1.1)
        eye = center + dist * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        eye[2] = max(eye[2], 0.15)
        target = center + rng.normal(0.0, 0.06 * radius, size=3)
        poses[k] = look_at(eye, target, roll=np.radians(rng.normal(0.0, 2.0)))
    return poses


def _smooth_path(rng: np.random.Generator, s: np.ndarray, num_terms: int = 2) -> np.ndarray:
    """A random smooth 1D signal in [-1, 1] over the path parameter s in [0, 1]."""
    out = np.zeros_like(s)
    total = 0.0
    for _ in range(num_terms):
        amp = rng.uniform(0.3, 1.0)
        freq = rng.uniform(0.3, 1.5)
        out += amp * np.sin(2 * np.pi * freq * s + rng.uniform(0, 2 * np.pi))
        total += amp
    return out / total


def forward_poses(
    rng: np.random.Generator, num_views: int, center: np.ndarray, radius: float, fov: float
) -> np.ndarray:
    """Forward-facing poses (LLFF / handheld style) looking at ``center`` from one side.

    Cameras move on a small spiral or a smooth random handheld path in the plane
    facing the scene and rotate slightly around a drifting focus point.
    """
    # Closer than a full fit: forward captures crop the scene; the floor keeps cameras outside it.
    distance = max(radius / np.sin(0.5 * fov) * rng.uniform(0.6, 0.95), 1.25 * radius)
    az = rng.uniform(0, 2 * np.pi)
    el = np.radians(rng.uniform(5.0, 28.0))
    back = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    base = look_at(center + distance * back, center)
    right, up, fwd = base[:3, 0], base[:3, 1], -base[:3, 2]
    s = np.linspace(0.0, 1.0, num_views)
    lateral = distance * rng.uniform(0.06, 0.2)
    if rng.random() < 0.5:
        turns = rng.choice([1.0, 2.0])
        phase = rng.uniform(0, 2 * np.pi)
        dx = np.cos(2 * np.pi * turns * s + phase)
        dy = np.sin(2 * np.pi * turns * s + phase) * rng.uniform(0.4, 1.0)
        dz = np.sin(np.pi * turns * s + phase)
    else:
        dx = _smooth_path(rng, s)
        dy = _smooth_path(rng, s) * rng.uniform(0.3, 0.8)
        dz = _smooth_path(rng, s)
    depth_travel = distance * rng.uniform(0.0, 0.12)
    focus_drift = np.stack([_smooth_path(rng, s) for _ in range(3)], axis=1) * 0.08 * radius
    poses = np.empty((num_views, 4, 4))
    for k in range(num_views):
        eye = base[:3, 3] + lateral * (dx[k] * right + dy[k] * up) + depth_travel * dz[k] * fwd
        eye[2] = max(eye[2], 0.15)
        target = center + focus_drift[k] + rng.normal(0.0, 0.01 * radius, size=3)
        poses[k] = look_at(eye, target, roll=np.radians(rng.normal(0.0, 1.5)))
    return poses


def sample_rig(
    rng: np.random.Generator,
    layout: Layout,
    num_views: int,
    width: int,
    height: int,
    center: np.ndarray,
    radius: float,
    fov_range: tuple[float, float] = (40.0, 75.0),
    shared_intrinsics: bool = False,
) -> CameraRig:
    """Intrinsics and poses of a scene whose content fits a sphere (``center``, ``radius``)."""
    intrinsics = sample_intrinsics(rng, num_views, width, height, fov_range, shared_intrinsics)
    fov = min_fov(intrinsics, width, height)
    if layout == "orbit":
        c2w = orbit_poses(rng, num_views, center, radius, fov)
    elif layout == "forward":
        c2w = forward_poses(rng, num_views, center, radius, fov)
    else:
        raise ValueError(f"Unknown camera layout {layout!r}")
    return CameraRig(c2w=c2w, intrinsics=intrinsics, width=width, height=height, layout=layout)


def subpixel_offsets(supersample: int) -> np.ndarray:
    """Stratified sample positions inside a pixel, [S*S, 2] in (0, 1) as (du, dv)."""
    g = (np.arange(supersample) + 0.5) / supersample
    du, dv = np.meshgrid(g, g, indexing="xy")
    return np.stack([du.ravel(), dv.ravel()], axis=1)


def pixel_rays(
    rig: CameraRig,
    offsets: np.ndarray,
    start: int = 0,
    stop: Optional[int] = None,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rays of flat indices [start, stop) ordered (view, row, col, sample).

    Returns:
        origins [N, 3], unit directions [N, 3], ``z_per_t`` [N] (z-depth per unit
        of ray distance) and the view index [N] of every ray.
    """
    w, h, s = rig.width, rig.height, len(offsets)
    per_view = h * w * s
    total = rig.num_views * per_view
    stop = total if stop is None else min(stop, total)
    origins = np.empty((stop - start, 3), dtype=dtype)
    dirs = np.empty((stop - start, 3), dtype=dtype)
    z_per_t = np.empty(stop - start, dtype=dtype)
    views = np.empty(stop - start, dtype=np.int64)
    # Rays are contiguous per view, so rotate each view's block with one matrix product.
    for view in range(start // per_view, (stop - 1) // per_view + 1):
        a, b = max(start, view * per_view), min(stop, (view + 1) * per_view)
        local = np.arange(a - view * per_view, b - view * per_view, dtype=np.int64)
        sample = local % s
        pix = local // s
        fx, fy, cx, cy = rig.intrinsics[view]
        u = pix % w + offsets[sample, 0]
        v = pix // w + offsets[sample, 1]
        d_cam = np.stack([(u - cx) / fx, -(v - cy) / fy, -np.ones(len(local))], axis=1)
        norm = np.sqrt(np.einsum("ij,ij->i", d_cam, d_cam))
        block = slice(a - start, b - start)
        dirs[block] = (d_cam / norm[:, None]) @ rig.c2w[view, :3, :3].T
        origins[block] = rig.c2w[view, :3, 3]
        z_per_t[block] = 1.0 / norm
        views[block] = view
    return origins, dirs, z_per_t, views


def project(points: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points [N, 3] into one camera: pixel coordinates (u, v) [N, 2] and z-depth [N]."""
    rot, t = c2w[:3, :3], c2w[:3, 3]
    p_cam = (points - t) @ rot
    z = -p_cam[:, 2]
    fx, fy, cx, cy = intrinsics
    u = fx * p_cam[:, 0] / z + cx
    v = -fy * p_cam[:, 1] / z + cy
    return np.stack([u, v], axis=1), z
