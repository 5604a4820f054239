"""Procedural multi-view scenes for meta-training: analytic geometry, textures, cameras and writers.

Typical use::

    from foresplat_ns.scenes import generate_scene, write_scene_nerfstudio

    scene = generate_scene(index=0, seed=0, views=24, resolution=64)
    write_scene_nerfstudio(scene, "scenes/train/scene_0000")
"""

from foresplat_ns.scenes.cameras import CameraRig, look_at, pixel_rays, project
from foresplat_ns.scenes.generate import Scene, generate_scene, scene_rng
from foresplat_ns.scenes.primitives import Material, Primitive
from foresplat_ns.scenes.raycast import MISS, RayHits, raycast
from foresplat_ns.scenes.writers import (
    read_depth,
    read_ply,
    write_ply,
    write_scene_blender,
    write_scene_nerfstudio,
)

__all__ = [
    "MISS",
    "CameraRig",
    "Material",
    "Primitive",
    "RayHits",
    "Scene",
    "generate_scene",
    "look_at",
    "pixel_rays",
    "project",
    "raycast",
    "read_depth",
    "read_ply",
    "scene_rng",
    "write_ply",
    "write_scene_blender",
    "write_scene_nerfstudio",
]
