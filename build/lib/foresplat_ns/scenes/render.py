"""Shading (textured Lambert + Blinn-Phong with hard shadows) and supersampled rendering of a rig."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foresplat_ns.scenes.cameras import CameraRig, pixel_rays, subpixel_offsets
from foresplat_ns.scenes.compose import SceneContent
from foresplat_ns.scenes.raycast import MISS, RayHits, closest_hit, occluded, raycast
from foresplat_ns.scenes.textures import evaluate_texture, linear_to_srgb

CHUNK_RAYS = 1 << 16
"""Rays processed at once; bounds memory at high resolutions."""


@dataclass
class RenderOutput:
    """Rendered views of a rig."""

    images: np.ndarray
    """sRGB-encoded colours quantised to 8 bit, [V, H, W, 3] uint8."""
    depths: np.ndarray
    """z-depth (distance along the optical axis) of the pixel-centre ray, [V, H, W] float32."""
    prim_ids: np.ndarray
    """Primitive hit by the pixel-centre ray, [V, H, W] int16."""
    points: np.ndarray
    """World point hit by the pixel-centre ray, [V, H, W, 3] float32."""


def _material_arrays(content: SceneContent, hits: RayHits, dirs: np.ndarray, sub_pixel_angle: np.ndarray):
    """Per-ray albedo, specular strength, shininess and emissive flag."""
    n = len(dirs)
    albedo = np.zeros((n, 3), dtype=np.float32)
    ks = np.zeros(n, dtype=np.float32)
    shininess = np.ones(n, dtype=np.float32)
    emissive = np.zeros(n, dtype=bool)
    cos_view = np.abs(np.einsum("ij,ij->i", hits.normals, dirs)).clip(0.15, 1.0)
    for k, prim in enumerate(content.primitives):
        sel = np.nonzero(hits.prim_id == k)[0]
        if sel.size == 0:
            continue
        materials = [(prim.material, sel)]
        ceiling = prim.extra.get("ceiling")
        if ceiling is not None:
            down = hits.normals[sel, 2] < -0.5
            materials = [(prim.material, sel[~down]), (ceiling, sel[down])]
        for material, idx in materials:
            if idx.size == 0:
                continue
            tex = material.texture
            local = prim.to_local(hits.points[idx]) / prim.texture_frame_scale
            rgb = evaluate_texture(tex, local)
            if not material.emissive:
                # Fade patterns finer than a sub-sample to their mean colour (a cheap mip filter).
                footprint = hits.t[idx] * sub_pixel_angle[idx] / cos_view[idx] / prim.texture_frame_scale
                cycles = footprint * tex.frequency * (2.0 if tex.kind == "checker" else 1.0)
                w = np.clip((cycles - 0.5) / 0.5, 0.0, 1.0)[:, None].astype(np.float32)
                rgb = rgb * (1 - w) + tex.palette.mean(axis=0).astype(np.float32) * w
            albedo[idx] = rgb
            ks[idx] = material.specular
            shininess[idx] = material.shininess
            emissive[idx] = material.emissive
    return albedo, ks, shininess, emissive


def shade(
    content: SceneContent,
    hits: RayHits,
    dirs: np.ndarray,
    sub_pixel_angle: np.ndarray,
    shadows: bool = True,
) -> np.ndarray:
    """Linear RGB [N, 3] seen along rays ``dirs`` given their closest hits.

    Args:
        content: The scene.
        hits: Closest hits of the rays.
        dirs: Unit ray directions [N, 3].
        sub_pixel_angle: Angular size of one (sub-)sample per ray, for texture filtering.
        shadows: Cast shadow rays towards the light.
    """
    light = content.lighting
    albedo, ks, shininess, emissive = _material_arrays(content, hits, dirs, sub_pixel_angle)
    n = hits.normals
    l_dir = light.direction.astype(np.float32)
    ndl = n @ l_dir
    lit = (ndl > 0) & ~emissive & (hits.prim_id != MISS)
    visible = lit.copy()
    if shadows and lit.any():
        idx = np.nonzero(lit)[0]
        eps = (2e-3 + 1e-4 * hits.t[idx])[:, None].astype(np.float32)
        origins = hits.points[idx] + n[idx] * eps
        blocked = occluded(origins, np.broadcast_to(l_dir, origins.shape), content.primitives)
        visible[idx[blocked]] = False
    diffuse = np.where(visible, ndl, 0.0).astype(np.float32)
    spec = np.zeros(len(dirs), dtype=np.float32)
    glossy = np.nonzero(visible & (ks > 0))[0]
    if glossy.size:
        half = l_dir[None, :] - dirs[glossy]
        half /= np.linalg.norm(half, axis=1, keepdims=True).clip(1e-6)
        ndh = np.einsum("ij,ij->i", n[glossy], half).clip(1e-6, 1.0)
        spec[glossy] = ks[glossy] * np.exp(shininess[glossy] * np.log(ndh))
    up = (0.5 + 0.5 * n[:, 2])[:, None]
    ambient = light.ambient_down.astype(np.float32) * (1 - up) + light.ambient_up.astype(np.float32) * up
    color = light.color.astype(np.float32)
    rgb = albedo * (ambient + color * diffuse[:, None]) + color * spec[:, None]
    return np.where(emissive[:, None], albedo, rgb).astype(np.float32)


def render(
    content: SceneContent,
    rig: CameraRig,
    supersample: int = 2,
    shadows: bool = True,
    chunk_rays: int | None = None,
) -> RenderOutput:
    """Render all views: supersampled colour plus pixel-centre depth, ids and hit points."""
    chunk_rays = chunk_rays or CHUNK_RAYS
    v, h, w = rig.num_views, rig.height, rig.width
    offsets = subpixel_offsets(supersample)
    total = v * h * w * len(offsets)
    linear = np.empty((total, 3), dtype=np.float32)
    for start in range(0, total, chunk_rays):
        origins, dirs, _, view = pixel_rays(rig, offsets, start, start + chunk_rays)
        hits = raycast(origins, dirs, content.primitives)
        angle = (1.0 / (rig.intrinsics[view, 0] * supersample)).astype(np.float32)
        linear[start : start + len(dirs)] = shade(content, hits, dirs, angle, shadows)
    # Average sub-samples in linear light, then encode once.
    pixels = linear.reshape(v, h, w, len(offsets), 3).mean(axis=3)
    images = np.round(linear_to_srgb(pixels) * 255.0).astype(np.uint8)

    center = np.array([[0.5, 0.5]])
    depths = np.empty(v * h * w, dtype=np.float32)
    ids = np.empty(v * h * w, dtype=np.int16)
    points = np.empty((v * h * w, 3), dtype=np.float32)
    for start in range(0, v * h * w, chunk_rays):
        origins, dirs, z_per_t, _ = pixel_rays(rig, center, start, start + chunk_rays)
        t, pid = closest_hit(origins, dirs, content.primitives)
        t = np.where(pid == MISS, 0.0, t).astype(np.float32)
        stop = start + len(t)
        depths[start:stop] = t * z_per_t
        ids[start:stop] = pid
        points[start:stop] = origins + t[:, None] * dirs
    return RenderOutput(
        images=images,
        depths=depths.reshape(v, h, w),
        prim_ids=ids.reshape(v, h, w),
        points=points.reshape(v, h, w, 3),
    )
