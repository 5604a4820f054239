"""`InitializerConfig`: the architecture and the output parametrisation of the initializer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Type

from nerfstudio.configs.base_config import InstantiateConfig


def _initializer_class() -> Type:
    # Imported on use: the network module imports this one.
    from foresplat_ns.initializer.initializer import Initializer

    return Initializer


@dataclass
class InitializerConfig(InstantiateConfig):
    """A compact multi-view network that predicts pixel-aligned Gaussians from a few posed views."""

    _target: Type = field(default_factory=_initializer_class)
    """Target class to instantiate."""
    channels: Tuple[int, ...] = (24, 48, 96, 128)
    """Feature channels per encoder level, full resolution first; each further level halves the resolution."""
    norm_groups: int = 8
    """GroupNorm groups of every convolution block (fewer when a block has fewer channels)."""
    attention_layers: int = 2
    """Transformer blocks at the lowest resolution in which the tokens of all views attend to each other."""
    attention_heads: int = 4
    """Heads of each attention layer; must divide the last entry of `channels`."""
    attention_mlp_ratio: float = 2.0
    """Hidden width of each transformer block's MLP, relative to its token width."""
    patch_size: int = 1
    """One group of Gaussians per patch_size x patch_size pixels (1, 2, 4, ...; at most 2^(levels-1)):
    the heads run on the decoder level of that resolution."""
    border_cells: int = 0
    """Extra rings of Gaussians beyond each image border, in grid cells: the edge cells' outputs continued
    along the outward rays, so target views that see a little past the context views have no holes."""
    cost_volume_planes: int = 0
    """Depth planes of a plane-sweep cost volume on the Gaussian grid (0 = none): each cell's features are
    compared with the other views' at each plane, and the matching depth (soft-argmax) is where the depth
    head starts; the head learns a correction. Needs at least two views."""
    cost_volume_channels: int = 16
    """Channels of the features the cost volume compares."""
    cost_volume_stride: int = 2
    """The sweep runs on a grid this many times coarser than the Gaussian grid (cheaper by its square);
    its costs are upsampled to the Gaussian grid. Must divide the grid's size."""
    gaussians_per_pixel: int = 1
    """Gaussians predicted per pixel (per patch when patch_size > 1), each with its own depth."""
    sh_degree: int = 3
    """Degree of the predicted spherical harmonics (splatfacto's default is 3)."""
    sh_rest_scale: float = 0.1
    """Multiplier of the raw higher-order SH outputs, so the view-independent DC term dominates at first."""
    offset_scale: float = 1.0
    """Largest offset of a mean from its ray along each camera axis, in pixel footprints at the predicted depth."""
    scale_min: float = 0.1
    """Smallest Gaussian scale, in pixel footprints (depth * patch_size / focal length)."""
    scale_max: float = 4.0
    """Largest Gaussian scale, in pixel footprints."""
    scale_init: float = 0.5
    """Scale of the untrained network's Gaussians, in pixel footprints; within [scale_min, scale_max]."""
    opacity_init: float = 0.9
    """Opacity of the untrained network's Gaussians."""
    opacity_views: Optional[int] = None
    """Number of input views the predicted opacities are calibrated for: the views per training step. Each view
    covers the scene with its own Gaussians, so N input views stack N layers where training stacked
    `opacity_views`; given N views, each opacity a becomes 1 - (1 - a)^(opacity_views / N), which lets as much light
    through N layers as training's layers let through. Runs loaded for `foresplat-refine` and `foresplat-bench`
    take it from `--pipeline.datamanager.num-context` when it is None; None or 0 here means no correction."""
    confidence_head: bool = True
    """Predict a per-Gaussian confidence in (0, 1); without it the Gaussians carry no confidence."""
    confidence_init: float = 0.5
    """Confidence of the untrained network's Gaussians."""
    head_init_std: float = 1e-3
    """Standard deviation of the output layers' initial weights: small, so the untrained network
    starts near the initial values above and colours equal to its input pixels."""

    @property
    def levels(self) -> int:
        """Number of encoder levels."""
        return len(self.channels)

    @property
    def head_level(self) -> int:
        """Decoder level whose resolution the Gaussian grid has (log2 of the patch size)."""
        return self.patch_size.bit_length() - 1

    def validate(self) -> None:
        """Raise ValueError on inconsistent settings, naming the field to fix."""
        if self.levels < 1:
            raise ValueError("channels must list at least one encoder level")
        if self.patch_size < 1 or self.patch_size & (self.patch_size - 1):
            raise ValueError(f"patch_size must be a power of two, got {self.patch_size}")
        if self.head_level > self.levels - 1:
            raise ValueError(
                f"patch_size {self.patch_size} needs {self.head_level + 1} encoder levels but channels lists "
                f"{self.levels}: add levels or lower patch_size"
            )
        if self.channels[-1] % self.attention_heads:
            raise ValueError(
                f"attention_heads {self.attention_heads} must divide the last channels entry {self.channels[-1]}"
            )
        if self.border_cells < 0:
            raise ValueError("border_cells must be non-negative")
        if self.cost_volume_planes < 0 or self.cost_volume_channels < 1 or self.cost_volume_stride < 1:
            raise ValueError("cost_volume_planes must be non-negative, cost_volume_channels and cost_volume_stride positive")
        if self.gaussians_per_pixel < 1:
            raise ValueError("gaussians_per_pixel must be at least 1")
        if self.sh_degree < 0:
            raise ValueError("sh_degree must be non-negative")
        if self.opacity_views is not None and self.opacity_views < 0:
            raise ValueError(f"opacity_views must be non-negative (0 or None: no correction), got {self.opacity_views}")
        if not 0.0 < self.scale_min < self.scale_init < self.scale_max:
            raise ValueError("need 0 < scale_min < scale_init < scale_max")
        for name in ("opacity_init", "confidence_init"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in (0, 1)")
