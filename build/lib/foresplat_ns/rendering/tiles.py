"""Tile-based compositing of projected Gaussians in pure PyTorch (the fast CPU path).

Pipeline, mirroring gsplat's ``isect_tiles`` / ``rasterize_to_pixels``:

1. every visible Gaussian is intersected with the tiles its alpha >= 1/255 box touches;
2. intersections are sorted by (camera, tile, depth);
3. the sorted list is processed in runs of bounded work: each (tile, Gaussian) intersection
   is expanded to the pixels of the Gaussian's box inside that tile, the (pixel, Gaussian)
   pairs are reordered per pixel (front to back) and composited with a segmented
   transmittance scan; a run may end inside a tile's depth list, and each pixel's
   transmittance is carried into the next run.

Only pixels inside a Gaussian's box are ever evaluated, so the work is proportional to the
covered area rather than to tiles x pixels x Gaussians-per-tile. The box is opacity-aware,
so the result equals the dense reference exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .projection import ALPHA_THRESHOLD, Projection, depth_order

#: Upper bound of (pixel, Gaussian) pairs composited at once; bounds transient memory.
DEFAULT_PAIR_BUDGET = 1 << 21
#: gsplat stops a pixel before the Gaussian that would leave transmittance <= 1e-4.
TRANSMITTANCE_EPS = 1e-4
#: gsplat's upper clamp on a single Gaussian's alpha.
MAX_ALPHA = 0.999


@dataclass
class TileIntersections:
    """(tile, Gaussian) intersections sorted by (camera, tile, depth), in gsplat's layout."""

    tile_width: int
    tile_height: int
    tiles_per_gauss: Int[Tensor, "C N"]  # int32
    isect_ids: Int[Tensor, "M"]  # int64: camera | tile | depth bits, as gsplat encodes them
    flatten_ids: Int[Tensor, "M"]  # int64 index into [C * N]
    isect_offsets: Int[Tensor, "C th tw"]  # int32 first intersection of each tile
    boxes: Int[Tensor, "M 4"]  # int64 pixel box (x0, y0, nx, ny) of the Gaussian inside the tile


def intersect_tiles(proj: Projection, width: int, height: int, tile_size: int = 16) -> TileIntersections:
    """Builds and sorts the (tile, Gaussian) intersections of the visible Gaussians.

    Args:
        proj: Projected Gaussians.
        width: Image width in pixels.
        height: Image height in pixels.
        tile_size: Tile edge in pixels.

    Returns:
        The sorted intersections.
    """
    C, N = proj.radii.shape
    device = proj.radii.device
    tw, th = math.ceil(width / tile_size), math.ceil(height / tile_size)
    n_tiles = tw * th
    box = proj.pixel_boxes  # [C, N, 4] (x0, x1, y0, y1)
    t_lo = torch.stack([box[..., 0], box[..., 2]], -1).div(tile_size, rounding_mode="floor")
    t_hi = torch.stack([box[..., 1], box[..., 3]], -1).div(tile_size, rounding_mode="floor")
    t_n = t_hi - t_lo + 1  # [C, N, 2]
    tiles_per_gauss = torch.where(proj.visible, t_n[..., 0] * t_n[..., 1], torch.zeros_like(t_n[..., 0]))

    order = depth_order(proj.depths, proj.visible)  # (camera, depth) order of visible Gaussians
    counts = tiles_per_gauss.reshape(-1)[order]
    n_isects = int(counts.sum())
    owner = torch.repeat_interleave(counts, output_size=n_isects)  # index into order
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(n_isects, device=device) - first[owner]
    fid = order[owner]
    t_lo_f, t_n_f, box_f = t_lo.reshape(-1, 2)[fid], t_n.reshape(-1, 2)[fid], box.reshape(-1, 4)[fid]
    tx = t_lo_f[:, 0] + k % t_n_f[:, 0]
    ty = t_lo_f[:, 1] + torch.div(k, t_n_f[:, 0], rounding_mode="floor")
    tile_key = torch.div(fid, N, rounding_mode="floor") * n_tiles + ty * tw + tx
    # A stable sort by tile keeps the depth order produced above inside every tile.
    tile_key, perm = torch.sort(tile_key, stable=True)
    fid, tx, ty, box_f = fid[perm], tx[perm], ty[perm], box_f[perm]

    x0 = torch.maximum(box_f[:, 0], tx * tile_size)
    x1 = torch.minimum(box_f[:, 1], tx * tile_size + tile_size - 1)
    y0 = torch.maximum(box_f[:, 2], ty * tile_size)
    y1 = torch.minimum(box_f[:, 3], ty * tile_size + tile_size - 1)
    boxes = torch.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], dim=-1)

    tile_counts = torch.bincount(tile_key, minlength=C * n_tiles)
    isect_offsets = (torch.cumsum(tile_counts, 0) - tile_counts).to(torch.int32).reshape(C, th, tw)
    tile_bits = int(n_tiles).bit_length()
    cam_of, tile_of = torch.div(tile_key, n_tiles, rounding_mode="floor"), tile_key % n_tiles
    depth_f32 = proj.depths.detach().float().reshape(-1)[fid]
    depth_bits = depth_f32.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    isect_ids = (((cam_of << tile_bits) | tile_of) << 32) | depth_bits
    return TileIntersections(
        tile_width=tw,
        tile_height=th,
        tiles_per_gauss=tiles_per_gauss.to(torch.int32),
        isect_ids=isect_ids,
        flatten_ids=fid,
        isect_offsets=isect_offsets,
        boxes=boxes,
    )


def _batch_bounds(n_pairs: Tensor, budget: int) -> list[tuple[int, int]]:
    """Splits the sorted intersection list into runs of at most about ``budget`` pairs.

    Runs may cut through a tile's depth list; the transmittance is carried across them.
    """
    if n_pairs.numel() == 0:
        return []
    cum = torch.cumsum(n_pairs, 0)
    total = int(cum[-1])
    if total <= budget:
        return [(0, n_pairs.numel())]
    targets = torch.arange(budget, total, budget, device=cum.device)
    cuts = torch.unique(torch.searchsorted(cum, targets, right=True)).tolist()
    bounds = [0, *[c for c in cuts if 0 < c < n_pairs.numel()], n_pairs.numel()]
    return list(zip(bounds[:-1], bounds[1:]))


def composite_tiles(
    proj: Projection,
    colors: Float[Tensor, "C N D"],
    isects: TileIntersections,
    width: int,
    height: int,
    absgrad: bool = False,
    pair_budget: Optional[int] = None,
) -> tuple[Float[Tensor, "C H W D"], Float[Tensor, "C H W 1"]]:
    """Composites the Gaussians front to back per pixel, run by run of sorted intersections.

    Args:
        proj: Projected Gaussians; the compositing reads ``proj.means2d`` directly so its
            gradient is dL/d(pixel-space mean).
        colors: Per-camera colours (or features) of the Gaussians.
        isects: Sorted tile intersections from :func:`intersect_tiles`.
        width: Image width in pixels.
        height: Image height in pixels.
        absgrad: Accumulate gsplat's ``means2d.absgrad`` (sum over pixels of |dL/dmean2d|).
        pair_budget: Approximate number of (pixel, Gaussian) pairs per run; defaults to
            ``DEFAULT_PAIR_BUDGET``.

    Returns:
        Colours without background and alphas.
    """
    C, N, D = colors.shape
    dtype, device = colors.dtype, colors.device
    # Flat per-Gaussian quantities, gathered per pair with 1D index_select (cheap forward and
    # backward); colours form one [D + 1, C * N] table whose last row of ones yields the alpha.
    scalars = (
        proj.means2d[..., 0].reshape(-1),
        proj.means2d[..., 1].reshape(-1),
        0.5 * proj.conics[..., 0].reshape(-1),
        proj.conics[..., 1].reshape(-1),
        0.5 * proj.conics[..., 2].reshape(-1),
        proj.opacities.reshape(-1),
    )
    color_table = torch.cat([colors, torch.ones_like(colors[..., :1])], dim=-1).reshape(C * N, D + 1).t()
    color_table = color_table.contiguous()

    absbuf = None
    if absgrad and proj.means2d.requires_grad:
        absbuf = torch.zeros(C * N, 2, dtype=dtype, device=device)
        proj.means2d.absgrad = absbuf.view(C, N, 2)

    boxes = isects.boxes
    n_pairs = boxes[:, 2] * boxes[:, 3]
    n_pix = C * height * width
    key_dtype = torch.int32 if n_pix < 2**31 else torch.int64
    pixel_ids, sums = [], []
    bounds = _batch_bounds(n_pairs, pair_budget or DEFAULT_PAIR_BUDGET)
    # Log-transmittance per pixel in front of the current run (float64, see _composite_batch).
    carry = torch.zeros(n_pix, dtype=torch.float64, device=device) if len(bounds) > 1 else None
    for start, end in bounds:
        run = slice(start, end)
        pix, acc, carry = _composite_batch(
            scalars, color_table, isects.flatten_ids[run], boxes[run], n_pairs[run], N, width, height,
            key_dtype, carry, absbuf,
        )  # fmt: skip
        pixel_ids.append(pix)
        sums.append(acc)

    out = torch.zeros(D + 1, n_pix, dtype=dtype, device=device)
    if pixel_ids:
        out = out.index_add(1, torch.cat(pixel_ids), torch.cat(sums, dim=1))
    out = out.reshape(D + 1, C, height, width).permute(1, 2, 3, 0)
    return out[..., :D], out[..., D:]


def _composite_batch(
    scalars: tuple[Float[Tensor, "CN"], ...],
    color_table: Float[Tensor, "D1 CN"],
    fids: Int[Tensor, "M"],
    boxes: Int[Tensor, "M 4"],
    n_pairs: Int[Tensor, "M"],
    n_gauss: int,
    width: int,
    height: int,
    key_dtype: torch.dtype,
    carry: Optional[Float[Tensor, "CHW"]],
    absbuf: Optional[Tensor],
) -> tuple[Int[Tensor, "S"], Float[Tensor, "D1 S"], Optional[Float[Tensor, "CHW"]]]:
    """Composites the (pixel, Gaussian) pairs of a run of sorted intersections.

    ``scalars`` are the flat mean x, mean y, conic a / 2, conic b, conic c / 2 and opacity.
    ``carry`` is each pixel's log-transmittance in front of this run (None: nothing in front).
    Returns the touched pixel ids (flat over [C, H, W]), their summed weighted colours with
    the alpha in the last row, and the carry behind this run.
    """
    device = color_table.device
    total = int(n_pairs.sum())
    # Expand every intersection to the pixels of its box: pixel = corner + row * W + column.
    owner = torch.repeat_interleave(n_pairs.to(key_dtype), output_size=total).long()
    k = torch.arange(total, device=device, dtype=key_dtype)
    k = k - (torch.cumsum(n_pairs, 0) - n_pairs).to(key_dtype).index_select(0, owner)
    nx = boxes[:, 2].to(key_dtype).index_select(0, owner)
    cam = torch.div(fids, n_gauss, rounding_mode="floor")
    corner = ((cam * height + boxes[:, 1]) * width + boxes[:, 0]).to(key_dtype)
    pix = corner.index_select(0, owner) + torch.div(k, nx, rounding_mode="floor") * width + k % nx
    del k, nx
    # Pairs come in (tile, depth) order; a stable sort by pixel makes each pixel's list
    # contiguous while keeping it front to back.
    pix, perm = torch.sort(pix, stable=True)
    own = owner.index_select(0, perm)  # intersection of each pair, local to this run
    del owner, perm
    first = torch.ones_like(pix, dtype=torch.bool)
    first[1:] = pix[1:] != pix[:-1]
    seg = torch.cumsum(first, 0) - 1
    starts = torch.nonzero(first).reshape(-1)
    seg_first = starts.index_select(0, seg)  # first pair of each pair's pixel
    seg_pix = pix.index_select(0, starts).to(torch.int64)
    del first

    # Gather per intersection first, then per pair from that small table: a pixel's pairs
    # come from one tile's short run of intersections, so the second gather stays in cache.
    mx, my, ha, b, hc, opac = (t.index_select(0, fids).index_select(0, own) for t in scalars)
    dtype = mx.dtype
    px = (pix % width).to(dtype) + 0.5
    py = (torch.div(pix, width, rounding_mode="floor") % height).to(dtype) + 0.5
    dx = mx - px
    dy = my - py
    sigma = dx * (ha * dx + b * dy) + hc * dy * dy
    alpha = torch.clamp(opac * torch.exp(-sigma), max=MAX_ALPHA)
    live = (sigma.detach() >= 0) & (alpha.detach() >= ALPHA_THRESHOLD)
    alpha = torch.where(live, alpha, torch.zeros_like(alpha))
    # Float64 scan: a global cumsum minus the segment start must not lose the tail.
    log_1m = torch.log1p(-alpha).double()
    excl = torch.cumsum(log_1m, 0) - log_1m
    log_t = excl - excl.index_select(0, seg_first)
    if carry is not None:
        log_t = log_t + carry.index_select(0, seg_pix).index_select(0, seg)
    # Transmittance only decreases along a pixel's list, so gsplat's stop rule keeps exactly
    # the pairs whose inclusive transmittance stays above the threshold, and every kept pair
    # has only kept pairs in front of it (its transmittance needs no masking).
    keep = (log_t.detach() + log_1m.detach()) > math.log(TRANSMITTANCE_EPS)
    weight = torch.where(keep, alpha * torch.exp(log_t).to(dtype), torch.zeros_like(alpha))
    acc = torch.zeros(color_table.shape[0], seg_pix.numel(), dtype=dtype, device=device)
    acc = acc.index_add(1, seg, weight * color_table.index_select(1, fids).index_select(1, own))
    if carry is not None:
        # Unmasked sums are right: a pixel that stopped here keeps nothing behind it anyway,
        # and its carry stays at or below the threshold so later runs keep nothing either.
        carry = carry.index_add(0, seg_pix, log_1m.new_zeros(seg_pix.numel()).index_add(0, seg, log_1m))

    if absbuf is not None and sigma.requires_grad:
        fid = fids.index_select(0, own)
        ha_d, b_d, hc_d = ha.detach(), b.detach(), hc.detach()
        dxd, dyd = dx.detach(), dy.detach()

        def _accumulate_absgrad(grad_sigma: Tensor) -> None:
            # Per-pixel dL/dmean2d is grad_sigma * dsigma/dmean2d; gsplat sums its absolute value.
            with torch.no_grad():
                gs = grad_sigma.detach()
                gx = gs * (2.0 * ha_d * dxd + b_d * dyd)
                gy = gs * (b_d * dxd + 2.0 * hc_d * dyd)
                absbuf.index_add_(0, fid, torch.stack([gx.abs(), gy.abs()], -1).to(absbuf.dtype))

        sigma.register_hook(_accumulate_absgrad)
    return seg_pix, acc, carry


__all__ = [
    "DEFAULT_PAIR_BUDGET",
    "MAX_ALPHA",
    "TRANSMITTANCE_EPS",
    "TileIntersections",
    "composite_tiles",
    "intersect_tiles",
]
