"""Random scene content: objects on a textured ground, an enclosing sky or room, and a light."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from foresplat_ns.scenes.geometry import rotation_x, rotation_z
from foresplat_ns.scenes.primitives import BACKGROUND_KINDS, OBJECT_KINDS, Material, Primitive
from foresplat_ns.scenes.textures import SURFACE_TEXTURES, random_sky, random_texture

Background = Literal["sky", "room"]


@dataclass
class Lighting:
    """A directional light plus hemispherical ambient light (linear RGB)."""

    direction: np.ndarray
    """Unit vector towards the light."""
    color: np.ndarray
    """Radiance scale of the directional light, [3]."""
    ambient_up: np.ndarray
    """Ambient light arriving on upward-facing surfaces, [3]."""
    ambient_down: np.ndarray
    """Ambient light arriving on downward-facing surfaces, [3]."""


@dataclass
class SceneContent:
    """Everything that is rendered, independent of the cameras."""

    primitives: list[Primitive]
    """Ground first, then objects, then the enclosing background last."""
    lighting: Lighting
    """Light setup."""
    background: str
    """``"sky"`` or ``"room"``."""
    center: np.ndarray
    """Centre of the objects' bounding sphere, [3]."""
    radius: float
    """Radius of the objects' bounding sphere."""
    meta: dict = field(default_factory=dict)
    """JSON-friendly description."""

    @property
    def objects(self) -> list[Primitive]:
        """The object primitives."""
        return [p for p in self.primitives if p.kind in OBJECT_KINDS]

    def ids_of(self, kinds) -> list[int]:
        """Primitive ids whose kind is in ``kinds``."""
        return [i for i, p in enumerate(self.primitives) if p.kind in kinds]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _object_material(rng: np.random.Generator) -> Material:
    texture = random_texture(rng, SURFACE_TEXTURES, frequency_range=(1.2, 4.5))
    glossy = rng.random() < 0.6
    return Material(
        texture=texture,
        specular=float(rng.uniform(0.25, 0.7)) if glossy else float(rng.uniform(0.0, 0.1)),
        shininess=_log_uniform(rng, 16.0, 200.0) if glossy else 8.0,
    )


def _planar_texture_rotation(rng: np.random.Generator) -> np.ndarray:
    # Floors and walls keep their patterns axis-aligned up to a yaw, like real tiles.
    return rotation_z(rng.uniform(0, np.pi / 2)) if rng.random() < 0.6 else np.eye(3)


def sample_objects(rng: np.random.Generator, min_objects: int = 3, max_objects: int = 8) -> list[Primitive]:
    """3-8 spheres, boxes and cylinders resting on the ground (or stacked on boxes), barely touching."""
    n = int(rng.integers(min_objects, max_objects + 1))
    kinds = list(rng.permutation(OBJECT_KINDS)) + list(rng.choice(OBJECT_KINDS, size=max(n - 3, 0)))
    kinds = kinds[:n]
    spread = 0.35 + 0.15 * n
    footprints: list[tuple[np.ndarray, float]] = []
    objects: list[Primitive] = []
    stack_bases: list[Primitive] = []
    for i, kind in enumerate(kinds):
        material = _object_material(rng)
        yaw = rng.uniform(0, 2 * np.pi)
        stacked_on: Optional[Primitive] = None
        if kind in ("sphere", "cylinder") and stack_bases and rng.random() < 0.3:
            stacked_on = stack_bases.pop(int(rng.integers(len(stack_bases))))
        scale = 1.0
        for attempt in range(80):
            if attempt == 20 and stacked_on is not None:
                # The base is too small for this object: put it on the ground instead.
                stacked_on = None
            if attempt and attempt % 20 == 0:
                scale *= 0.85
                spread *= 1.15
            if kind == "sphere":
                r = rng.uniform(0.18, 0.55) * scale
                size = np.array([r, r, r])
                rot = rotation_z(yaw)
                footprint, lift = r, r
            elif kind == "box":
                half = rng.uniform([0.15, 0.15, 0.12], [0.5, 0.5, 0.6]) * scale
                size = half
                rot = rotation_z(yaw)
                footprint, lift = float(np.hypot(half[0], half[1])), half[2]
            else:
                r = rng.uniform(0.12, 0.4) * scale
                hh = rng.uniform(0.15, 0.6) * scale
                size = np.array([r, r, hh])
                lying = stacked_on is None and rng.random() < 0.3
                if lying:
                    rot = rotation_z(yaw) @ rotation_x(np.pi / 2)
                    footprint, lift = float(np.hypot(r, hh)), r
                else:
                    rot = rotation_z(yaw)
                    footprint, lift = r, hh
            if stacked_on is not None:
                top = stacked_on.center[2] + stacked_on.size[2]
                if footprint > 0.9 * min(stacked_on.size[0], stacked_on.size[1]):
                    continue
                xy = stacked_on.center[:2].copy()
                center = np.array([xy[0], xy[1], top + lift])
                break
            rad = spread * np.sqrt(rng.random())
            ang = rng.uniform(0, 2 * np.pi)
            xy = np.array([rad * np.cos(ang), rad * np.sin(ang)])
            # Allow a slight overlap of footprints: touching objects look natural.
            if all(np.linalg.norm(xy - c) >= 0.92 * (footprint + r_other) for c, r_other in footprints):
                center = np.array([xy[0], xy[1], lift])
                footprints.append((xy, footprint))
                break
        else:
            continue
        prim = Primitive(
            kind=kind,
            center=center,
            rotation=rot,
            size=size,
            material=material,
            texture_frame_scale=float(max(size.max(), 0.2)),
            name=f"{kind}_{i}",
        )
        objects.append(prim)
        if kind == "box" and stacked_on is None:
            stack_bases.append(prim)
    return objects


def bounding_sphere(objects: list[Primitive]) -> tuple[np.ndarray, float]:
    """Centre and radius of a sphere enclosing all objects."""
    lo = np.min([o.center - o.bounding_radius for o in objects], axis=0)
    hi = np.max([o.center + o.bounding_radius for o in objects], axis=0)
    center = 0.5 * (lo + hi)
    center[2] = max(0.35 * hi[2], 0.15)
    radius = max(float(np.linalg.norm(o.center - center)) + o.bounding_radius for o in objects)
    return center, radius


def sample_ground(rng: np.random.Generator) -> Primitive:
    """The textured ground plane z = 0."""
    # Muted floors keep the objects the most salient part of the image, as in real captures.
    texture = random_texture(
        rng,
        ("checker", "stripes", "noise", "marble", "checker", "noise"),
        frequency_range=(0.7, 2.5),
        saturation=(0.05, 0.55),
    )
    texture.rotation = _planar_texture_rotation(rng)
    return Primitive(
        kind="ground",
        center=np.zeros(3),
        rotation=np.eye(3),
        size=np.zeros(3),
        material=Material(texture=texture, specular=float(rng.uniform(0.0, 0.2)), shininess=24.0),
        name="ground",
    )


def random_light_direction(rng: np.random.Generator) -> np.ndarray:
    """Unit vector towards a light 25-70 degrees above the horizon."""
    az = rng.uniform(0, 2 * np.pi)
    el = np.radians(rng.uniform(25.0, 70.0))
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def sample_lighting(
    rng: np.random.Generator, direction: np.ndarray, sky_palette: Optional[np.ndarray] = None
) -> Lighting:
    """A sun-like directional light with ambient fill matching the sky (or a neutral room fill)."""
    warmth = rng.uniform(0.0, 0.15)
    color = rng.uniform(0.9, 1.3) * np.array([1.0, 1.0 - 0.5 * warmth, 1.0 - warmth])
    if sky_palette is not None:
        up = 0.5 * sky_palette[1] + 0.5 * sky_palette[0]
        ambient_up = up / max(up.max(), 1e-6) * rng.uniform(0.25, 0.45)
    else:
        ambient_up = np.full(3, rng.uniform(0.3, 0.45)) * np.array([1.0, 0.97, 0.92])
    ambient_down = ambient_up * rng.uniform(0.3, 0.6)
    return Lighting(direction=direction, color=color, ambient_up=ambient_up, ambient_down=ambient_down)


def sample_skydome(rng: np.random.Generator, center: np.ndarray, camera_extent: float, sun: np.ndarray) -> Primitive:
    """A large emissive sky dome around the scene."""
    radius = float(np.clip(4.0 * camera_extent, 20.0, 40.0))
    return Primitive(
        kind="skydome",
        center=np.array([center[0], center[1], 0.0]),
        rotation=np.eye(3),
        size=np.full(3, radius),
        material=Material(texture=random_sky(rng, sun), specular=0.0, emissive=True),
        name="sky",
    )


def sample_room(rng: np.random.Generator, center: np.ndarray, camera_points: np.ndarray) -> Primitive:
    """A box room around the scene and all cameras, with textured walls and ceiling."""
    yaw = rng.uniform(0, np.pi / 2)
    rot = rotation_z(yaw)
    rel = (camera_points - np.array([center[0], center[1], 0.0])) @ rot
    half_xy = np.abs(rel[:, :2]).max(axis=0) + rng.uniform(0.8, 3.0, size=2)
    top = max(float(camera_points[:, 2].max()), 1.5) + rng.uniform(0.8, 2.0)
    bottom = -0.5
    wall = random_texture(
        rng, ("stripes", "noise", "checker", "gradient", "marble", "dots"), (0.5, 2.0), saturation=(0.05, 0.6)
    )
    wall.rotation = _planar_texture_rotation(rng)
    ceiling = random_texture(rng, ("noise", "checker", "stripes"), (0.5, 1.5), saturation=(0.0, 0.25))
    return Primitive(
        kind="room",
        center=np.array([center[0], center[1], 0.5 * (top + bottom)]),
        rotation=rot,
        size=np.array([half_xy[0], half_xy[1], 0.5 * (top - bottom)]),
        material=Material(texture=wall, specular=float(rng.uniform(0.0, 0.12)), shininess=16.0),
        name="room",
        extra={"ceiling": Material(texture=ceiling, specular=0.0)},
    )


def assemble(
    rng: np.random.Generator,
    objects: list[Primitive],
    background: str,
    camera_points: np.ndarray,
) -> SceneContent:
    """Add ground, background and light around placed objects, given where the cameras are."""
    center, radius = bounding_sphere(objects)
    ground = sample_ground(rng)
    if background == "sky":
        sun = random_light_direction(rng)
        extent = float(np.linalg.norm(camera_points[:, :2] - center[:2], axis=1).max())
        enclosure = sample_skydome(rng, center, extent, sun)
        lighting = sample_lighting(rng, sun, enclosure.material.texture.palette)
    elif background == "room":
        enclosure = sample_room(rng, center, camera_points)
        lighting = sample_lighting(rng, random_light_direction(rng))
    else:
        raise ValueError(f"Unknown background {background!r}")
    prims = [ground, *objects, enclosure]
    assert prims[-1].kind in BACKGROUND_KINDS
    meta = {
        "background": background,
        "num_objects": len(objects),
        "objects": [o.describe() for o in objects],
        "ground_texture": ground.material.texture.kind,
        "background_texture": enclosure.material.texture.kind,
        "light_direction": [round(float(v), 6) for v in lighting.direction],
    }
    return SceneContent(
        primitives=prims, lighting=lighting, background=background, center=center, radius=radius, meta=meta
    )


def mean_albedo(texture) -> np.ndarray:
    """Average colour of a texture (its palette mean), linear RGB."""
    return np.asarray(texture.palette, dtype=np.float64).mean(axis=0)

