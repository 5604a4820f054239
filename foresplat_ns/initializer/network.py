"""The initializer's network: CNN encoder, cross-view attention, U-Net decoder, per-cell heads.

Views are processed as a batch and only the attention mixes them, without any view-index
embedding, so permuting the input views permutes the outputs the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from foresplat_ns.initializer.adapter import RawGaussians
from foresplat_ns.initializer.config import InitializerConfig
from foresplat_ns.initializer.cost_volume import CostVolume
from foresplat_ns.initializer.plucker import PixelRays

PLUCKER_CHANNELS = 6
CAMERA_FEATURES = 16


def conv_block(in_channels: int, out_channels: int, groups: int, stride: int = 1) -> nn.Sequential:
    """Two 3x3 convolutions with GroupNorm and ReLU; the first one may downsample."""
    groups = _groups(out_channels, groups)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


def _groups(channels: int, groups: int) -> int:
    """Largest group count not above `groups` that divides `channels`."""
    return next(g for g in range(min(groups, channels), 0, -1) if channels % g == 0)


class Encoder(nn.Module):
    """Strided CNN over image and Plücker channels; returns the features of every level."""

    def __init__(self, config: InitializerConfig):
        super().__init__()
        channels = config.channels
        self.levels = nn.ModuleList(
            [conv_block(3 + PLUCKER_CHANNELS, channels[0], config.norm_groups)]
            + [
                conv_block(channels[i - 1], channels[i], config.norm_groups, stride=2)
                for i in range(1, len(channels))
            ]
        )

    def forward(self, x: Float[Tensor, "view channels height width"]) -> List[Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


class AttentionBlock(nn.Module):
    """Pre-norm transformer block over one set of tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm_attention = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.project = nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: Float[Tensor, "token dim"]) -> Float[Tensor, "token dim"]:
        count, dim = tokens.shape
        qkv = self.qkv(self.norm_attention(tokens)).reshape(count, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(1, 2, 0, 3).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v)
        tokens = tokens + self.project(attended.transpose(0, 1).reshape(count, dim))
        return tokens + self.mlp(self.norm_mlp(tokens))


class CrossViewAttention(nn.Module):
    """Attention in which the lowest-resolution tokens of all views attend to each other.

    Each token gets the embedding of its own ray (mean Plücker coordinates of its pixels) and of
    its camera (pose and intrinsics), so attention can relate what different views see.
    """

    def __init__(self, config: InitializerConfig):
        super().__init__()
        dim = config.channels[-1]
        self.ray_embedding = nn.Linear(PLUCKER_CHANNELS, dim)
        self.camera_embedding = nn.Sequential(nn.Linear(CAMERA_FEATURES, dim), nn.GELU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(
            AttentionBlock(dim, config.attention_heads, config.attention_mlp_ratio)
            for _ in range(config.attention_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        features: Float[Tensor, "view dim height width"],
        rays: Float[Tensor, "view image_height image_width 6"],
        cameras: Float[Tensor, "view 16"],
    ) -> Float[Tensor, "view dim height width"]:
        views, dim, height, width = features.shape
        # Each token's ray: the mean Plücker coordinates of the pixels it covers.
        token_rays = F.adaptive_avg_pool2d(rays.permute(0, 3, 1, 2), (height, width)).permute(0, 2, 3, 1)
        embedding = self.ray_embedding(token_rays) + self.camera_embedding(cameras)[:, None, None]
        tokens = features.permute(0, 2, 3, 1) + embedding
        tokens = tokens.reshape(views * height * width, dim)
        for block in self.blocks:
            tokens = block(tokens)
        # The residual stream already carries the CNN features.
        return self.norm(tokens).reshape(views, height, width, dim).permute(0, 3, 1, 2)


class Decoder(nn.Module):
    """Upsamples the attended features with skip connections, down to the Gaussian grid's level."""

    def __init__(self, config: InitializerConfig):
        super().__init__()
        channels = config.channels
        levels = range(config.levels - 2, config.head_level - 1, -1)
        self.reduce = nn.ModuleList([nn.Conv2d(channels[i + 1], channels[i], 1) for i in levels])
        self.fuse = nn.ModuleList([conv_block(2 * channels[i], channels[i], config.norm_groups) for i in levels])

    def forward(self, features: List[Tensor]) -> Tensor:
        x = features[-1]
        for index, (reduce, fuse) in enumerate(zip(self.reduce, self.fuse)):
            skip = features[-2 - index]
            x = F.interpolate(reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = fuse(torch.cat([x, skip], dim=1))
        return x


class GaussianHeads(nn.Module):
    """Per-cell output layers: a shared 3x3 convolution, then one 1x1 convolution per quantity."""

    def __init__(self, config: InitializerConfig):
        super().__init__()
        width = config.channels[config.head_level]
        k = config.gaussians_per_pixel
        self.k = k
        self.rest = (config.sh_degree + 1) ** 2 - 1
        self.sizes: Dict[str, int] = {
            "depth": 1,
            "offset": 3,
            "scale": 3,
            "rotation": 4,
            "opacity": 1,
            "sh_dc": 3,
        }
        if self.rest:
            self.sizes["sh_rest"] = 3 * self.rest
        if config.confidence_head:
            self.sizes["confidence"] = 1
        self.trunk = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({name: nn.Conv2d(width, k * size, 1) for name, size in self.sizes.items()})
        for head in self.heads.values():
            nn.init.normal_(head.weight, std=config.head_init_std)
            nn.init.zeros_(head.bias)
        self.detach_confidence = False
        """Whether the confidence head reads detached features: gradients through the confidence then train that
        head alone (set by IFT's `confidence_gradient`; a training switch, not part of the architecture)."""

    @torch.no_grad()
    def reset_confidence(self, confidence: float, initial: float) -> None:
        """Give every Gaussian the same confidence (about `confidence`) whatever the features: zero weights, one bias.

        `initial` is the adapter's `confidence_init`, the confidence at a raw output of zero.
        """
        head = self.heads["confidence"]
        head.weight.zero_()
        head.bias.fill_(math.log(confidence / (1 - confidence)) - math.log(initial / (1 - initial)))

    def forward(self, features: Float[Tensor, "view channels height width"]) -> RawGaussians:
        x = self.trunk(features)
        views, _, height, width = x.shape
        # Each head's [view, k * size, h, w] output becomes [view, h, w, k, size].
        outputs = {
            name: self.heads[name](x.detach() if name == "confidence" and self.detach_confidence else x)
            .reshape(views, self.k, size, height, width)
            .permute(0, 3, 4, 1, 2)
            for name, size in self.sizes.items()
        }
        outputs["sh_rest"] = outputs.get("sh_rest", x.new_zeros(views, height, width, self.k, 0)).reshape(
            views, height, width, self.k, self.rest, 3
        )
        for name in ("depth", "opacity", "confidence"):
            if name in outputs:
                outputs[name] = outputs[name].squeeze(-1)
        return RawGaussians(**outputs)


@dataclass
class SweepGeometry:
    """What the cost volume needs to project grid cells between views."""

    rays: PixelRays
    """Rays of the sweep's grid: the Gaussian grid (no border cells) coarsened by `cost_volume_stride`."""
    intrinsics: Float[Tensor, "view 4"]
    """fx, fy, cx, cy in pixels of the full image."""
    image_size: Tuple[int, int]
    """(width, height) of the full image."""
    near: float
    """Nearest depth of the sweep (its last plane)."""
    far: float
    """Farthest depth of the sweep (its first plane)."""


class InitializerNetwork(nn.Module):
    """Images, Plücker rays and camera features in; raw Gaussian parameters on the grid out."""

    def __init__(self, config: InitializerConfig):
        super().__init__()
        self.encoder = Encoder(config)
        self.attention = CrossViewAttention(config)
        self.decoder = Decoder(config)
        self.cost_volume = None
        if config.cost_volume_planes:
            width = config.channels[config.head_level]
            self.cost_volume = CostVolume(
                width, config.cost_volume_channels, config.cost_volume_planes, config.cost_volume_stride
            )
        self.heads = GaussianHeads(config)

    def forward(
        self,
        images: Float[Tensor, "view height width 3"],
        rays: Float[Tensor, "view height width 6"],
        cameras: Float[Tensor, "view 16"],
        sweep: Optional[SweepGeometry] = None,
    ) -> RawGaussians:
        x = torch.cat([2.0 * images - 1.0, rays], dim=-1).permute(0, 3, 1, 2)
        features = self.encoder(x)
        features[-1] = self.attention(features[-1], rays, cameras)
        x = self.decoder(features)
        if self.cost_volume is None:
            return self.heads(x)
        if sweep is None:
            raise ValueError("an initializer with a cost volume needs the views' geometry (SweepGeometry)")
        x, fraction = self.cost_volume(x, sweep.rays, sweep.intrinsics, sweep.image_size, sweep.near, sweep.far)
        raw = self.heads(x)
        # The depth head starts at the matching depth: its logits are a correction of the cost volume's.
        k = raw.depth.shape[-1]
        start = (torch.arange(k, dtype=fraction.dtype, device=fraction.device) + 0.5) / k
        prior = torch.logit(fraction.clamp(1e-4, 1.0 - 1e-4))[..., None] - torch.logit(start)
        raw.depth = raw.depth + prior
        return raw
