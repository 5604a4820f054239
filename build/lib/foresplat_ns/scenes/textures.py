"""Procedural solid textures (checkers, stripes, dots, value noise, marble, gradients) and skies.

Textures are evaluated on 3D points in a primitive's local frame, so patterns
stay glued to the surface from every viewpoint. Colours are linear RGB.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

import numpy as np

from foresplat_ns.scenes.geometry import random_rotation

TextureKind = Literal["checker", "stripes", "dots", "noise", "marble", "gradient", "sky"]

SURFACE_TEXTURES: tuple[str, ...] = ("checker", "stripes", "dots", "noise", "marble", "gradient")
"""Texture kinds used on objects, ground and walls."""

LATTICE_SIZE = 32
"""Side of the periodic random lattice behind the value noise (a power of two)."""


@dataclass
class Texture:
    """A procedural texture; evaluate with :func:`evaluate_texture`."""

    kind: TextureKind
    """Pattern type."""
    palette: np.ndarray
    """Colours [K, 3], linear RGB. For skies: horizon, zenith, cloud, sun."""
    frequency: float = 1.0
    """Pattern cycles per local unit."""
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    """Orientation of the pattern within the local frame."""
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Pattern phase, in pattern units."""
    lattice: np.ndarray = field(default_factory=lambda: np.zeros((LATTICE_SIZE,) * 3, dtype=np.float32))
    """Random values on a periodic lattice for value noise."""
    octaves: int = 3
    """Octaves of fractal noise."""
    warp: float = 0.0
    """Noise warp of marble veins; cloud cover for skies."""
    grain: float = 0.0
    """Relative brightness variation from fine noise (dirt, wood grain)."""
    sun_direction: Optional[np.ndarray] = None
    """Skies only: unit vector towards the sun."""


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear."""
    c = np.asarray(c)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear values to sRGB encoding, clipped to [0, 1]."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def random_palette(
    rng: np.random.Generator, k: Optional[int] = None, saturation: tuple[float, float] = (0.25, 0.9)
) -> np.ndarray:
    """A harmonious random palette of ``k`` (2-4) colours, linear RGB [k, 3]."""
    k = int(rng.integers(2, 5)) if k is None else k
    scheme = rng.choice(["analogous", "complementary", "triad", "mono", "split"])
    offsets = {
        "analogous": [0.0, 0.07, -0.07, 0.14],
        "complementary": [0.0, 0.5, 0.03, 0.47],
        "triad": [0.0, 1 / 3, 2 / 3, 0.0],
        "mono": [0.0, 0.0, 0.02, -0.02],
        "split": [0.0, 0.42, 0.58, 0.0],
    }[str(scheme)]
    hue = rng.random()
    sat_base = rng.uniform(*saturation)
    colours = []
    for i in range(k):
        # Alternate light and dark so neighbouring palette entries contrast.
        value = rng.uniform(0.65, 0.97) if i % 2 == 0 else rng.uniform(0.2, 0.5)
        sat = float(np.clip(sat_base + rng.normal(0, 0.12), 0.05, 1.0))
        h = (hue + offsets[i % len(offsets)] + rng.normal(0, 0.02)) % 1.0
        colours.append(colorsys.hsv_to_rgb(h, sat, value))
    if rng.random() < 0.5:
        colours = colours[::-1]
    return srgb_to_linear(np.array(colours))


def random_texture(
    rng: np.random.Generator,
    kinds: Sequence[str] = SURFACE_TEXTURES,
    frequency_range: tuple[float, float] = (1.5, 5.0),
    palette: Optional[np.ndarray] = None,
    saturation: tuple[float, float] = (0.25, 0.9),
) -> Texture:
    """Sample a random surface texture with its own palette, orientation and noise lattice."""
    kind = str(rng.choice(list(kinds)))
    lo, hi = frequency_range
    frequency = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if kind == "gradient":
        frequency = rng.uniform(0.6, 1.2)
    elif kind == "noise":
        frequency *= 0.7
    return Texture(
        kind=kind,  # type: ignore[arg-type]
        palette=random_palette(rng, saturation=saturation) if palette is None else palette,
        frequency=frequency,
        rotation=random_rotation(rng) if rng.random() < 0.7 else np.eye(3),
        offset=rng.uniform(0, 8, size=3),
        lattice=rng.random((LATTICE_SIZE,) * 3).astype(np.float32),
        octaves=int(rng.integers(2, 5)),
        warp=float(rng.uniform(0.8, 3.0)),
        grain=float(rng.uniform(0.04, 0.18)) if rng.random() < 0.5 else 0.0,
    )


def value_noise(lattice: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Smooth periodic value noise in [0, 1] at points q [N, 3] (lattice units)."""
    size = lattice.shape[0]
    mask = size - 1
    base = np.floor(q)
    f = (q - base).astype(np.float32)
    i0 = base.astype(np.int64) & mask
    i1 = (i0 + 1) & mask
    u = f * f * (3.0 - 2.0 * f)
    flat = lattice.reshape(-1)
    x0, y0, z0 = i0[:, 0] * size * size, i0[:, 1] * size, i0[:, 2]
    x1, y1, z1 = i1[:, 0] * size * size, i1[:, 1] * size, i1[:, 2]
    ux, uy, uz = u[:, 0], u[:, 1], u[:, 2]

    def lerp(a, b, w):
        return a + (b - a) * w

    c00 = lerp(flat[x0 + y0 + z0], flat[x1 + y0 + z0], ux)
    c10 = lerp(flat[x0 + y1 + z0], flat[x1 + y1 + z0], ux)
    c01 = lerp(flat[x0 + y0 + z1], flat[x1 + y0 + z1], ux)
    c11 = lerp(flat[x0 + y1 + z1], flat[x1 + y1 + z1], ux)
    return lerp(lerp(c00, c10, uy), lerp(c01, c11, uy), uz)


def fbm(lattice: np.ndarray, q: np.ndarray, octaves: int) -> np.ndarray:
    """Fractal sum of value noise, contrast-stretched to roughly fill [0, 1]."""
    total = np.zeros(len(q), dtype=np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        # Per-octave shift decorrelates the octaves sampled from the same lattice.
        total += amp * value_noise(lattice, q * (2.0**o) + 5.3 * o)
        norm += amp
        amp *= 0.5
    return np.clip((total / norm - 0.5) * 2.2 + 0.5, 0.0, 1.0)


def palette_ramp(palette: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp through the palette, v in [0, 1]."""
    k = len(palette)
    x = np.clip(v, 0.0, 1.0) * (k - 1)
    i = np.minimum(x.astype(np.int64), k - 2)
    w = (x - i)[:, None].astype(np.float32)
    pal = palette.astype(np.float32)
    return pal[i] * (1 - w) + pal[i + 1] * w


def evaluate_texture(tex: Texture, p: np.ndarray) -> np.ndarray:
    """Linear RGB [N, 3] of the texture at local points p [N, 3]."""
    if tex.kind == "sky":
        return sky_color(tex, p)
    q = (p @ tex.rotation.T.astype(p.dtype)) * tex.frequency + tex.offset.astype(p.dtype)
    pal = tex.palette.astype(np.float32)
    k = len(pal)
    if tex.kind == "checker":
        parity = np.floor(q).astype(np.int64).sum(axis=1) & 1
        second = 1 + (np.floor(q[:, 0] * 0.5).astype(np.int64) % max(k - 1, 1)) if k > 2 else np.ones_like(parity)
        rgb = np.where(parity[:, None] == 0, pal[0], pal[np.minimum(second, k - 1)])
    elif tex.kind == "stripes":
        rgb = pal[np.floor(q[:, 0]).astype(np.int64) % k]
    elif tex.kind == "dots":
        cell = q - np.floor(q) - 0.5
        inside = np.einsum("ij,ij->i", cell, cell) < 0.33**2
        rgb = np.where(inside[:, None], pal[1], pal[0] if k < 3 else pal[2])
    elif tex.kind == "noise":
        rgb = palette_ramp(pal, fbm(tex.lattice, q, tex.octaves))
    elif tex.kind == "marble":
        n = fbm(tex.lattice, q * 0.5, tex.octaves)
        v = 0.5 + 0.5 * np.sin(2 * np.pi * q[:, 0] + tex.warp * 2 * np.pi * n)
        rgb = palette_ramp(pal, v)
    elif tex.kind == "gradient":
        v = 0.5 + 0.5 * (q[:, 0] - tex.offset[0])
        rgb = palette_ramp(pal, np.clip(v + 0.25 * (value_noise(tex.lattice, q * 2.0) - 0.5), 0, 1))
    else:
        raise ValueError(f"Unknown texture kind {tex.kind!r}")
    rgb = rgb.astype(np.float32)
    if tex.grain > 0:
        g = value_noise(tex.lattice, q * 6.0 + 11.0)
        rgb = rgb * (1.0 - tex.grain + 2.0 * tex.grain * g)[:, None]
    return rgb


def random_sky(rng: np.random.Generator, sun_direction: np.ndarray) -> Texture:
    """A sky (clear, hazy, sunset or overcast) lit by a sun in ``sun_direction``."""
    style = str(rng.choice(["clear", "clear", "hazy", "sunset", "overcast"]))
    if style == "clear":
        zenith = colorsys.hsv_to_rgb(rng.uniform(0.55, 0.64), rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.85))
        horizon = colorsys.hsv_to_rgb(rng.uniform(0.52, 0.6), rng.uniform(0.1, 0.3), rng.uniform(0.85, 1.0))
    elif style == "hazy":
        zenith = colorsys.hsv_to_rgb(rng.uniform(0.5, 0.62), rng.uniform(0.25, 0.45), rng.uniform(0.7, 0.9))
        horizon = colorsys.hsv_to_rgb(rng.uniform(0.08, 0.15), rng.uniform(0.05, 0.2), rng.uniform(0.88, 1.0))
    elif style == "sunset":
        zenith = colorsys.hsv_to_rgb(rng.uniform(0.62, 0.75), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.6))
        horizon = colorsys.hsv_to_rgb(rng.uniform(0.02, 0.1), rng.uniform(0.5, 0.8), rng.uniform(0.85, 1.0))
    else:
        grey = rng.uniform(0.55, 0.8)
        zenith = (grey * 0.9, grey * 0.92, grey)
        horizon = (min(grey * 1.2, 1.0),) * 3
    cloud = (0.97, 0.97, 0.97) if style != "sunset" else colorsys.hsv_to_rgb(rng.uniform(0.0, 0.08), 0.3, 0.95)
    sun = (1.0, 0.97, 0.9) if style != "sunset" else (1.0, 0.75, 0.45)
    palette = srgb_to_linear(np.array([horizon, zenith, cloud, sun]))
    return Texture(
        kind="sky",
        palette=palette,
        frequency=float(rng.uniform(2.0, 4.0)),
        offset=rng.uniform(0, 8, size=3),
        lattice=rng.random((LATTICE_SIZE,) * 3).astype(np.float32),
        octaves=4,
        warp=float(rng.uniform(0.0, 0.6)) if style != "overcast" else 0.0,
        sun_direction=np.asarray(sun_direction, dtype=np.float64),
    )


def sky_color(tex: Texture, p: np.ndarray) -> np.ndarray:
    """Sky radiance at points on a dome centred at the local origin."""
    d = p / np.linalg.norm(p, axis=1, keepdims=True).clip(1e-12)
    pal = tex.palette.astype(np.float32)
    elev = np.clip(d[:, 2], 0.0, 1.0)
    w = np.sqrt(elev)[:, None].astype(np.float32)
    rgb = pal[0] * (1 - w) + pal[1] * w
    if tex.warp > 0:
        # Clouds: noise on the dome thresholded by the cover, fading towards the horizon.
        n = fbm(tex.lattice, d * tex.frequency + tex.offset.astype(d.dtype), tex.octaves)
        cover = np.clip((n - (1.0 - tex.warp)) / 0.25, 0.0, 1.0) * np.clip(elev * 4.0, 0.0, 1.0)
        rgb = rgb * (1 - cover[:, None]) + pal[2] * cover[:, None]
    if tex.sun_direction is not None:
        cos_sun = np.clip(d @ tex.sun_direction.astype(d.dtype), 0.0, 1.0)
        glow = 0.5 * cos_sun**32 + 2.0 * (cos_sun > 0.9995)
        rgb = rgb + pal[3] * glow[:, None].astype(np.float32)
    return rgb.astype(np.float32)
