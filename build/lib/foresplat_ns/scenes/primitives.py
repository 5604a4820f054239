"""Analytic primitives of the procedural scenes and their ray intersections.

Every primitive lives in its own local frame (``center`` + ``rotation`` whose
columns are the local axes in world coordinates). Intersections are computed in
that frame for whole arrays of rays at once; a miss is ``inf``.

World convention: z is up, the ground is the plane z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from foresplat_ns.scenes.textures import Texture

PrimitiveKind = Literal["sphere", "box", "cylinder", "ground", "skydome", "room"]

OBJECT_KINDS = ("sphere", "box", "cylinder")
"""Kinds that are scene objects (cast shadows, seed the point cloud)."""
BACKGROUND_KINDS = ("skydome", "room")
"""Kinds that enclose the scene; the rays start inside them."""


@dataclass
class Material:
    """Surface appearance: a texture plus Blinn-Phong parameters."""

    texture: Texture
    """Albedo texture, evaluated in the primitive's local frame."""
    specular: float = 0.2
    """Specular strength (0 = purely diffuse)."""
    shininess: float = 32.0
    """Blinn-Phong exponent."""
    emissive: bool = False
    """Emissive surfaces show their texture unlit (the sky)."""


@dataclass
class Primitive:
    """An analytic shape in the scene."""

    kind: PrimitiveKind
    """Shape type."""
    center: np.ndarray
    """Local-frame origin in world coordinates, [3]."""
    rotation: np.ndarray
    """Local-to-world rotation, [3, 3] (columns = local axes)."""
    size: np.ndarray
    """Sphere/dome: (r, r, r); box/room: half extents; cylinder: (r, r, half height along local z)."""
    material: Material
    """Appearance."""
    texture_frame_scale: float = 1.0
    """Local coordinates are divided by this before texturing, so patterns scale with the object."""
    name: str = ""
    """Human-readable label."""
    extra: dict = field(default_factory=dict)
    """Kind-specific data (e.g. sky colours)."""

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points [N, 3] to the local frame."""
        return (points - self.center.astype(points.dtype)) @ self.rotation.astype(points.dtype)

    def dirs_to_local(self, dirs: np.ndarray) -> np.ndarray:
        """World directions [N, 3] to the local frame."""
        return dirs @ self.rotation.astype(dirs.dtype)

    @property
    def bounding_radius(self) -> float:
        """Radius of a sphere around ``center`` enclosing the primitive."""
        if self.kind in ("sphere", "skydome"):
            return float(self.size[0])
        if self.kind in ("box", "room"):
            return float(np.linalg.norm(self.size))
        if self.kind == "cylinder":
            return float(np.hypot(self.size[0], self.size[2]))
        return float("inf")

    def describe(self) -> dict:
        """JSON-friendly summary."""
        return {
            "kind": self.kind,
            "name": self.name,
            "center": [round(float(v), 6) for v in self.center],
            "size": [round(float(v), 6) for v in self.size],
            "texture": self.material.texture.kind,
        }


def _safe_inv(d: np.ndarray) -> np.ndarray:
    # Zero components become a huge finite value, keeping slab arithmetic NaN-free.
    tiny = np.asarray(1e-12, dtype=d.dtype)
    return 1.0 / np.where(np.abs(d) < tiny, np.where(d < 0, -tiny, tiny), d)


def intersect_sphere(o: np.ndarray, d: np.ndarray, radius: float, tmin: float, inside: bool = False) -> np.ndarray:
    """Distance along unit rays (local frame, sphere at origin) to the first hit beyond ``tmin``.

    With ``inside`` only the far root is used (rays leaving an enclosing dome).
    """
    b = np.einsum("ij,ij->i", o, d)
    c = np.einsum("ij,ij->i", o, o) - radius * radius
    disc = b * b - c
    hit = disc >= 0
    sq = np.sqrt(np.maximum(disc, 0))
    t_far = -b + sq
    if inside:
        t = t_far
    else:
        t_near = -b - sq
        t = np.where(t_near > tmin, t_near, t_far)
    return np.where(hit & (t > tmin), t, np.inf)


def intersect_box(o: np.ndarray, d: np.ndarray, half: np.ndarray, tmin: float, inside: bool = False) -> np.ndarray:
    """Slab test against an axis-aligned box (local frame) of half extents ``half``."""
    inv = _safe_inv(d)
    h = half.astype(o.dtype)
    t1 = (-h - o) * inv
    t2 = (h - o) * inv
    lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
    # Column-wise maximum/minimum: much faster than reductions over a length-3 axis.
    tnear = np.maximum(np.maximum(lo[:, 0], lo[:, 1]), lo[:, 2])
    tfar = np.minimum(np.minimum(hi[:, 0], hi[:, 1]), hi[:, 2])
    hit = (tnear <= tfar) & (tfar > tmin)
    if inside:
        t = tfar
    else:
        t = np.where(tnear > tmin, tnear, tfar)
    return np.where(hit, t, np.inf)


def intersect_cylinder(o: np.ndarray, d: np.ndarray, radius: float, half_height: float, tmin: float) -> np.ndarray:
    """Capped cylinder along local z, for rays starting outside it."""
    ox, oy, oz = o[:, 0], o[:, 1], o[:, 2]
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / a
    z_side = oz + t_side * dz
    side_ok = (disc >= 0) & (a > 1e-12) & (t_side > tmin) & (np.abs(z_side) <= half_height)
    t = np.where(side_ok, t_side, np.inf)
    inv_dz = _safe_inv(dz)
    for cap in (half_height, -half_height):
        t_cap = (cap - oz) * inv_dz
        px = ox + t_cap * dx
        py = oy + t_cap * dy
        cap_ok = (t_cap > tmin) & (px * px + py * py <= radius * radius)
        t = np.where(cap_ok & (t_cap < t), t_cap, t)
    return t


def intersect_ground(o: np.ndarray, d: np.ndarray, tmin: float) -> np.ndarray:
    """Plane z = 0, seen from above."""
    t = -o[:, 2] * _safe_inv(d[:, 2])
    return np.where((o[:, 2] > 0) & (t > tmin), t, np.inf)


def intersect(prim: Primitive, origins: np.ndarray, dirs: np.ndarray, tmin: float = 1e-4) -> np.ndarray:
    """Hit distance [N] of unit rays with one primitive (``inf`` for a miss)."""
    if prim.kind == "ground":
        return intersect_ground(origins - prim.center.astype(origins.dtype), dirs, tmin)
    o = prim.to_local(origins)
    d = prim.dirs_to_local(dirs)
    if prim.kind == "sphere":
        return intersect_sphere(o, d, float(prim.size[0]), tmin)
    if prim.kind == "skydome":
        return intersect_sphere(o, d, float(prim.size[0]), tmin, inside=True)
    if prim.kind == "box":
        return intersect_box(o, d, prim.size, tmin)
    if prim.kind == "room":
        return intersect_box(o, d, prim.size, tmin, inside=True)
    if prim.kind == "cylinder":
        return intersect_cylinder(o, d, float(prim.size[0]), float(prim.size[2]), tmin)
    raise ValueError(f"Unknown primitive kind {prim.kind!r}")


def surface_normal(prim: Primitive, points: np.ndarray, local: Optional[np.ndarray] = None) -> np.ndarray:
    """Unit normals [N, 3] (world frame) at surface points; backgrounds face inwards."""
    if prim.kind == "ground":
        n = np.zeros_like(points)
        n[:, 2] = 1.0
        return n
    p = prim.to_local(points) if local is None else local
    if prim.kind in ("sphere", "skydome"):
        n_local = p / float(prim.size[0])
        if prim.kind == "skydome":
            n_local = -n_local
    elif prim.kind in ("box", "room"):
        rel = np.abs(p) / prim.size.astype(p.dtype)
        axis = rel.argmax(axis=1)
        n_local = np.zeros_like(p)
        rows = np.arange(len(p))
        sign = np.sign(p[rows, axis])
        n_local[rows, axis] = -sign if prim.kind == "room" else sign
    elif prim.kind == "cylinder":
        r, hh = float(prim.size[0]), float(prim.size[2])
        radial = np.hypot(p[:, 0], p[:, 1])
        on_cap = np.abs(p[:, 2]) / hh > radial / r
        n_local = np.zeros_like(p)
        n_local[:, 0] = np.where(on_cap, 0.0, p[:, 0] / np.maximum(radial, 1e-12))
        n_local[:, 1] = np.where(on_cap, 0.0, p[:, 1] / np.maximum(radial, 1e-12))
        n_local[:, 2] = np.where(on_cap, np.sign(p[:, 2]), 0.0)
    else:
        raise ValueError(f"Unknown primitive kind {prim.kind!r}")
    n = n_local @ prim.rotation.T.astype(p.dtype)
    return n / np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
