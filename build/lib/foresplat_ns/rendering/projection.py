"""Projection of 3D Gaussians to screen space, following gsplat 1.4.0's pinhole model.

Shared by the tile rasteriser and the dense reference so both see identical 2D Gaussians.
Everything here is built from differentiable PyTorch ops with forward-mode support; the
culling masks and extents are computed from detached values (they are decisions, not values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

#: Gaussians whose alpha falls below this are skipped by the compositor (gsplat's 1/255).
ALPHA_THRESHOLD = 1.0 / 255.0
#: Relative and absolute safety margins on the screen-space extent, so that rounding never
#: lets a pixel outside the extent reach ``ALPHA_THRESHOLD``.
_EXTENT_REL_MARGIN = 1e-4
_EXTENT_ABS_MARGIN = 1e-3


@dataclass
class Projection:
    """Screen-space Gaussians for ``C`` cameras (unpacked layout, like gsplat's ``packed=False``)."""

    means2d: Float[Tensor, "C N 2"]  # pixel-space centres, zero where culled
    depths: Float[Tensor, "C N"]  # camera-space z, zero where culled
    conics: Float[Tensor, "C N 3"]  # upper triangle of the inverse 2D covariance
    opacities: Float[Tensor, "C N"]  # opacity, times the compensation when antialiased
    radii: Int[Tensor, "C N"]  # int32 opacity-aware pixel radius, 0 when culled
    drawable: Bool[Tensor, "C N"]  # passes gsplat's culls (depth range, det > 0, radius_clip)
    visible: Bool[Tensor, "C N"]  # drawable and able to reach alpha >= 1/255 on some pixel
    extents: Float[Tensor, "C N 2"]  # detached half-size (x, y) of the alpha >= 1/255 box
    pixel_boxes: Int[Tensor, "C N 4"]  # inclusive pixel box (x0, x1, y0, y1) within that box


def quat_to_rotmat(quats: Float[Tensor, "N 4"]) -> Float[Tensor, "N 3 3"]:
    """Rotation matrices from (w, x, y, z) quaternions, normalised first as gsplat does."""
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def covariance_3d(quats: Float[Tensor, "N 4"], scales: Float[Tensor, "N 3"]) -> Float[Tensor, "N 3 3"]:
    """World-space covariance ``R S Sᵀ Rᵀ`` from quaternions and (activated) scales."""
    m = quat_to_rotmat(quats) * scales[..., None, :]
    return m @ m.transpose(-1, -2)


def project_gaussians(
    means: Float[Tensor, "N 3"],
    covars: Float[Tensor, "N 3 3"],
    opacities: Float[Tensor, "N"],
    viewmats: Float[Tensor, "C 4 4"],
    Ks: Float[Tensor, "C 3 3"],
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    radius_clip: float = 0.0,
    rasterize_mode: Literal["classic", "antialiased"] = "classic",
) -> Projection:
    """Projects 3D Gaussians with gsplat's ``fully_fused_projection`` rules.

    Args:
        means: World-space centres.
        covars: World-space covariances.
        opacities: Opacities in [0, 1].
        viewmats: World-to-camera matrices (OpenCV axes).
        Ks: Pinhole intrinsics.
        width: Image width in pixels.
        height: Image height in pixels.
        near_plane: Gaussians with camera z below this are culled.
        far_plane: Gaussians with camera z above this are culled.
        eps2d: Screen-space dilation added to the 2D covariance diagonal.
        radius_clip: Gaussians whose pixel radius is at most this are culled.
        rasterize_mode: ``"antialiased"`` scales opacity by sqrt(det before / det after dilation).

    Returns:
        The projected Gaussians.
    """
    C, N = viewmats.shape[0], means.shape[0]
    rot, trans = viewmats[:, :3, :3], viewmats[:, :3, 3]
    mean_c = torch.einsum("cij,nj->cni", rot, means) + trans[:, None, :]  # [C, N, 3]
    x, y, z = mean_c.unbind(-1)
    depth_ok = (z.detach() >= near_plane) & (z.detach() <= far_plane)
    # Culled Gaussians still flow through the maths; a safe depth keeps their gradients finite.
    z = torch.where(depth_ok, z, torch.ones_like(z))

    covar_c = rot[:, None] @ covars[None] @ rot[:, None].transpose(-1, -2)  # [C, N, 3, 3]

    fx, fy, cx, cy = (Ks[:, 0, 0, None], Ks[:, 1, 1, None], Ks[:, 0, 2, None], Ks[:, 1, 2, None])
    # gsplat clamps x/z, y/z to 1.3x the field of view when building the Jacobian only.
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos, lim_x_neg = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_y_pos, lim_y_neg = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    rz = 1.0 / z
    tx = z * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x * rz))
    ty = z * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y * rz))
    zero = torch.zeros_like(z)
    jac = torch.stack(
        [fx * rz, zero, -fx * tx * rz * rz, zero, fy * rz, -fy * ty * rz * rz], dim=-1
    ).reshape(C, N, 2, 3)
    cov2d = jac @ covar_c @ jac.transpose(-1, -2)  # [C, N, 2, 2]
    means2d = torch.stack([fx * x * rz + cx, fy * y * rz + cy], dim=-1)

    a, b, c = cov2d[..., 0, 0], cov2d[..., 0, 1], cov2d[..., 1, 1]
    det_orig = a * c - b * b
    a, c = a + eps2d, c + eps2d
    det = a * c - b * b
    det_ok = det.detach() > 0
    det_safe = torch.where(det_ok, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)

    opac = opacities[None, :].expand(C, N)
    if rasterize_mode == "antialiased":
        opac = opac * torch.sqrt(torch.clamp_min(det_orig / det_safe, 0.0))
    elif rasterize_mode != "classic":
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}")

    with torch.no_grad():
        # Beyond sigma = ln(255 * opacity) the alpha is below 1/255, so nothing is lost by
        # culling there; the box of that ellipse has half-sizes sqrt(2 L Sigma_xx), sqrt(2 L Sigma_yy).
        two_l = 2.0 * torch.log(255.0 * opac.detach().clamp_min(1e-30))
        two_l_pos = two_l.clamp_min(0.0)
        ext = torch.sqrt(two_l_pos[..., None] * torch.stack([a, c], dim=-1).clamp_min(0.0))
        ext = ext * (1.0 + _EXTENT_REL_MARGIN) + _EXTENT_ABS_MARGIN
        half_tr = 0.5 * (a + c)
        lam_max = half_tr + torch.sqrt((half_tr * half_tr - det).clamp_min(0.0))
        radius = torch.ceil(torch.sqrt(two_l_pos * lam_max.clamp_min(0.0)))
        drawable = depth_ok & det_ok
        if radius_clip > 0:
            drawable = drawable & (radius > radius_clip)
        # Pixel (i, j) has its centre at (j + 0.5, i + 0.5); only centres inside the box matter.
        m2d = torch.nan_to_num(means2d.detach(), nan=-1e30, posinf=1e30, neginf=-1e30).clamp(-1e9, 1e9)
        lo = torch.ceil(m2d - ext - 0.5)
        hi = torch.floor(m2d + ext - 0.5)
        size = torch.tensor([width, height], dtype=lo.dtype, device=lo.device)
        lo = torch.maximum(lo, torch.zeros_like(lo))
        hi = torch.minimum(hi, size - 1)
        touches_pixels = (lo <= hi).all(-1)
        visible = drawable & (two_l > 0) & touches_pixels
        radii = torch.where(visible, radius, torch.zeros_like(radius)).to(torch.int32)
        ext = torch.where(visible[..., None], ext, torch.zeros_like(ext))
        boxes = torch.stack([lo[..., 0], hi[..., 0], lo[..., 1], hi[..., 1]], dim=-1).to(torch.int64)
        boxes = torch.where(visible[..., None], boxes, torch.zeros_like(boxes))

    if rasterize_mode == "antialiased":
        # gsplat leaves the compensation of culled Gaussians at zero.
        opac = torch.where(visible, opac, torch.zeros_like(opac))
    keep = drawable[..., None]
    return Projection(
        means2d=torch.where(keep, means2d, torch.zeros_like(means2d)),
        depths=torch.where(drawable, z, torch.zeros_like(z)),
        conics=torch.where(keep, conics, torch.zeros_like(conics)),
        opacities=opac,
        radii=radii,
        drawable=drawable,
        visible=visible,
        extents=ext,
        pixel_boxes=boxes,
    )


def camera_centres(viewmats: Float[Tensor, "C 4 4"]) -> Float[Tensor, "C 3"]:
    """World-space camera centres ``-Rᵀ t`` of rigid world-to-camera matrices."""
    rot, trans = viewmats[:, :3, :3], viewmats[:, :3, 3]
    return -(rot.transpose(-1, -2) @ trans[..., None])[..., 0]


def depth_order(
    depths: Float[Tensor, "C N"], mask: Optional[Bool[Tensor, "C N"]] = None
) -> Int[Tensor, "M"]:
    """Flat indices into ``[C * N]`` sorted by (camera, depth), ties by Gaussian index.

    Only entries where ``mask`` is true are returned.
    """
    C, N = depths.shape
    flat = depths.detach().reshape(-1)
    order = torch.argsort(flat, stable=True)
    order = order[torch.argsort(torch.div(order, N, rounding_mode="floor"), stable=True)]
    if mask is not None:
        order = order[mask.reshape(-1)[order]]
    return order


__all__ = [
    "ALPHA_THRESHOLD",
    "Projection",
    "camera_centres",
    "covariance_3d",
    "depth_order",
    "project_gaussians",
    "quat_to_rotmat",
]
