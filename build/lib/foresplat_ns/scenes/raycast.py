"""Vectorised closest-hit and any-hit ray casting against a list of primitives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from foresplat_ns.scenes.primitives import OBJECT_KINDS, Primitive, intersect, surface_normal

MISS = -1
"""Primitive id of rays that hit nothing."""


@dataclass
class RayHits:
    """Closest hits of a batch of rays."""

    t: np.ndarray
    """Distance along the (unit) ray, [N]; ``inf`` where missed."""
    prim_id: np.ndarray
    """Index into the primitive list, [N] int16; ``MISS`` where missed."""
    points: np.ndarray
    """World hit points, [N, 3] (origin where missed)."""
    normals: np.ndarray
    """Unit world normals facing the incoming ray, [N, 3] (zero where missed)."""


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


class _SphereCull:
    """Bounding-sphere pre-test for many primitives against one batch of rays.

    Expands |o - c|^2 and (o - c).d so that per primitive only two matrix-vector
    products remain instead of materialising o - c for every ray.
    """

    def __init__(self, origins: np.ndarray, dirs: np.ndarray):
        self.origins, self.dirs = origins, dirs
        self.od = _row_dot(origins, dirs)
        self.oo = _row_dot(origins, origins)

    def candidates(self, prim: Primitive) -> np.ndarray:
        """Indices of rays hitting the primitive's bounding sphere ahead of their origin."""
        c = prim.center.astype(self.origins.dtype)
        b = self.od - self.dirs @ c
        cc = self.oo - 2.0 * (self.origins @ c) + float(c @ c) - (prim.bounding_radius * 1.001 + 1e-3) ** 2
        return np.nonzero((b * b - cc >= 0) & ((b < 0) | (cc < 0)))[0]


def closest_hit(origins: np.ndarray, dirs: np.ndarray, prims: Sequence[Primitive], tmin: float = 1e-4):
    """Distances [N] and primitive ids [N] of the nearest hits (no normals)."""
    n = len(origins)
    t_best = np.full(n, np.inf, dtype=origins.dtype)
    ids = np.full(n, MISS, dtype=np.int16)
    cull = _SphereCull(origins, dirs)
    for k, prim in enumerate(prims):
        if prim.kind in OBJECT_KINDS:
            # Objects cover few rays: run the exact test only where the bounding sphere is hit.
            sel = cull.candidates(prim)
            if sel.size == 0:
                continue
            t = intersect(prim, origins[sel], dirs[sel], tmin)
            closer = t < t_best[sel]
            sel = sel[closer]
            t_best[sel] = t[closer]
            ids[sel] = k
        else:
            t = intersect(prim, origins, dirs, tmin)
            closer = t < t_best
            t_best = np.where(closer, t, t_best)
            ids[closer] = k
    return t_best, ids


def raycast(origins: np.ndarray, dirs: np.ndarray, prims: Sequence[Primitive], tmin: float = 1e-4) -> RayHits:
    """Closest hit of unit rays ``origins + t * dirs`` with distance, normal and primitive id.

    Args:
        origins: Ray origins [N, 3].
        dirs: Unit ray directions [N, 3].
        prims: Primitives; ids index this sequence.
        tmin: Hits closer than this are ignored.
    """
    t, ids = closest_hit(origins, dirs, prims, tmin)
    hit = ids != MISS
    t_safe = np.where(hit, t, 0).astype(origins.dtype)
    points = origins + t_safe[:, None] * dirs
    normals = np.zeros_like(origins)
    for k, prim in enumerate(prims):
        sel = np.nonzero(ids == k)[0]
        if sel.size:
            normals[sel] = surface_normal(prim, points[sel])
    # Orient normals against the ray so both sides of a surface shade correctly.
    flip = _row_dot(normals, dirs) > 0
    normals[flip] *= -1
    return RayHits(t=t, prim_id=ids, points=points, normals=normals)


def occluded(origins: np.ndarray, dirs: np.ndarray, prims: Sequence[Primitive], tmin: float = 1e-4) -> np.ndarray:
    """Any-hit test [N] bool against the object primitives only (shadow rays)."""
    blocked = np.zeros(len(origins), dtype=bool)
    cull = _SphereCull(origins, dirs)
    for prim in prims:
        if prim.kind not in OBJECT_KINDS:
            continue
        cand = cull.candidates(prim)
        cand = cand[~blocked[cand]]
        if cand.size:
            t = intersect(prim, origins[cand], dirs[cand], tmin)
            blocked[cand[np.isfinite(t)]] = True
    return blocked
