"""Size and speed of the initializer: `python -m foresplat_ns.initializer.profile [--views 4 ...]`."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Optional

import torch
import tyro

from nerfstudio.cameras.cameras import Cameras, CameraType

from foresplat_ns.initializer.config import InitializerConfig
from foresplat_ns.initializer.initializer import Initializer


@dataclass
class ProfileConfig:
    """Measure the initializer's parameter count and forward time on random input."""

    initializer: InitializerConfig = field(default_factory=InitializerConfig)
    """The network to measure."""
    views: int = 4
    """Context views per forward pass."""
    resolution: int = 64
    """Image height and width in pixels."""
    repeats: int = 20
    """Timed passes; the median is reported."""
    warmup: int = 3
    """Untimed passes first (allocator and kernel selection)."""
    threads: Optional[int] = None
    """CPU threads for PyTorch; None keeps PyTorch's default. On a machine shared with other busy
    processes, one thread avoids waiting for descheduled worker threads in every operation."""


def orbit_cameras(views: int, resolution: int, radius: float = 4.0, fov_degrees: float = 60.0) -> Cameras:
    """Cameras on a horizontal circle around the origin, looking at it (OpenGL camera-to-world)."""
    angles = torch.arange(views, dtype=torch.float32) * (2 * math.pi / max(views, 1)) * 0.25
    centres = torch.stack([radius * torch.sin(angles), torch.full_like(angles, 1.0), radius * torch.cos(angles)], -1)
    back = torch.nn.functional.normalize(centres, dim=-1)  # the camera looks along -z, towards the origin
    world_up = torch.tensor([0.0, 1.0, 0.0]).expand_as(back)
    right = torch.nn.functional.normalize(torch.linalg.cross(world_up, back), dim=-1)
    up = torch.linalg.cross(back, right)
    c2w = torch.stack([right, up, back, centres], dim=-1)
    focal = 0.5 * resolution / math.tan(math.radians(fov_degrees) / 2)
    ones = torch.ones(views, 1)
    return Cameras(
        camera_to_worlds=c2w,
        fx=focal * ones,
        fy=focal * ones,
        cx=0.5 * resolution * ones,
        cy=0.5 * resolution * ones,
        width=resolution * ones.long(),
        height=resolution * ones.long(),
        camera_type=CameraType.PERSPECTIVE,
    )


def profile_initializer(config: ProfileConfig) -> dict:
    """Parameter count and median wall time of one forward pass, without and with autograd.

    Returns:
        A dict with `parameters`, `forward_ms` (inference, no autograd), `forward_backward_ms`
        (forward with autograd plus a backward pass), `gaussians` and `threads`.
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(0)
    net = Initializer(config.initializer)
    images = torch.rand(config.views, config.resolution, config.resolution, 3)
    cameras = orbit_cameras(config.views, config.resolution)
    near, far = 0.5, 10.0

    def forward_only() -> int:
        with torch.no_grad():
            return net(images, cameras, near, far).num_gaussians

    def forward_backward() -> int:
        net.zero_grad(set_to_none=True)
        gaussians = net(images, cameras, near, far)
        sum(value.sum() for value in gaussians.params().values()).backward()
        return gaussians.num_gaussians

    timings = {}
    for name, run in (("forward_ms", forward_only), ("forward_backward_ms", forward_backward)):
        for _ in range(config.warmup):
            count = run()
        samples = []
        for _ in range(config.repeats):
            start = time.perf_counter()
            run()
            samples.append(1000.0 * (time.perf_counter() - start))
        timings[name] = statistics.median(samples)
    return {
        "parameters": sum(p.numel() for p in net.parameters()),
        **timings,
        "gaussians": count,
        "threads": torch.get_num_threads(),
    }


def main(config: ProfileConfig) -> dict:
    """Print and return the measurements."""
    result = profile_initializer(config)
    print(
        f"initializer: {result['parameters'] / 1e6:.3f} M parameters, {result['gaussians']} Gaussians from "
        f"{config.views} views at {config.resolution}x{config.resolution}; median over {config.repeats} runs "
        f"on {result['threads']} threads: forward {result['forward_ms']:.1f} ms, "
        f"forward+backward {result['forward_backward_ms']:.1f} ms"
    )
    return result


if __name__ == "__main__":
    main(tyro.cli(ProfileConfig))
