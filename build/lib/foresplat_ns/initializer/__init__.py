"""The initializer: a compact multi-view network predicting pixel-aligned Gaussians from posed views."""

from foresplat_ns.initializer.adapter import Prediction, RawGaussians, adapt
from foresplat_ns.initializer.config import InitializerConfig
from foresplat_ns.initializer.initializer import Initializer

__all__ = ["Initializer", "InitializerConfig", "Prediction", "RawGaussians", "adapt"]
