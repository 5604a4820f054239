"""Writers for nerfstudio-data and Blender (NeRF-synthetic) scene folders, plus PLY point clouds.

nerfstudio-data (``transforms.json``), read by ``NerfstudioDataParserConfig``:
per-frame (or shared top-level) ``fl_x, fl_y, cx, cy, w, h``, ``camera_model:
"OPENCV"`` with zero distortion, OpenGL ``transform_matrix`` camera-to-world,
``depth_file_path`` and ``ply_file_path``. Depth maps hold z-depth (along the
optical axis, nerfstudio's default ``is_euclidean_depth=False``); as 16-bit
PNG they are in millimetres, which nerfstudio's default
``depth_unit_scale_factor=1e-3`` turns into scene units. ``.npy`` depths are
float32 scene units and need ``depth_unit_scale_factor=1.0``; the JSON records
the factor under ``foresplat.depth_unit_scale_factor`` either way.

Blender (``transforms_{train,val,test}.json``), read by
``BlenderDataParserConfig``: one ``camera_angle_x`` per scene (focal length
shared by all views, principal point at the image centre), frame paths without
extension, RGBA PNGs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from PIL import Image

from foresplat_ns.scenes.generate import Scene

DepthFormat = Literal["png", "npy"]

DEPTH_PNG_SCALE = 1e-3
"""Scene units per 16-bit depth PNG step (millimetres)."""

PLY_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
"""Vertex record of the point clouds."""


def write_png(path: Path, array: np.ndarray, compress_level: int = 3) -> None:
    """Write an 8-bit RGB/RGBA or 16-bit single-channel PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=compress_level)


def write_depth(path: Path, depth: np.ndarray, compress_level: int = 3) -> float:
    """Write a z-depth map; returns the depth unit scale factor (scene units per stored unit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, depth.astype(np.float32))
        return 1.0
    mm = np.clip(np.round(depth / DEPTH_PNG_SCALE), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    write_png(path, mm, compress_level)
    return DEPTH_PNG_SCALE


def read_depth(path: Path, unit_scale: Optional[float] = None) -> np.ndarray:
    """Read a depth map written by :func:`write_depth` back into scene units, [H, W] float32."""
    path = Path(path)
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32) * (1.0 if unit_scale is None else unit_scale)
    raw = np.asarray(Image.open(path)).astype(np.float32)
    return raw * (DEPTH_PNG_SCALE if unit_scale is None else unit_scale)


def write_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """Binary little-endian PLY with float x, y, z and uchar red, green, blue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vertex = np.empty(len(xyz), dtype=PLY_VERTEX)
    vertex["x"], vertex["y"], vertex["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(xyz)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertex.tobytes())


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a PLY written by :func:`write_ply`: positions [N, 3] float32 and colours [N, 3] uint8."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    count = int(next(line for line in header if line.startswith("element vertex")).split()[-1])
    vertex = np.frombuffer(data[end:], dtype=PLY_VERTEX, count=count)
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
    rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1)
    return xyz, rgb


def _matrix(m: np.ndarray) -> list:
    return [[round(float(v), 9) for v in row] for row in m]


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def scene_metadata(scene: Scene, depth_unit_scale_factor: float) -> dict:
    """The ``foresplat`` block stored alongside the standard keys."""
    return {**scene.meta, "depth_unit_scale_factor": depth_unit_scale_factor}


def write_scene_nerfstudio(
    scene: Scene,
    path: Path,
    depth_format: DepthFormat = "png",
    compress_level: int = 3,
) -> Path:
    """Write ``scene`` as a nerfstudio-data folder; returns the path of ``transforms.json``."""
    path = Path(path)
    unit = 1.0
    frames = []
    images = scene.images_uint8
    for i in range(scene.num_views):
        image_rel = f"images/frame_{i:05d}.png"
        depth_rel = f"depths/frame_{i:05d}.{depth_format}"
        write_png(path / image_rel, images[i], compress_level)
        unit = write_depth(path / depth_rel, scene.depths[i], compress_level)
        frame = {"file_path": image_rel, "depth_file_path": depth_rel}
        if not scene.shared_intrinsics:
            fx, fy, cx, cy = scene.intrinsics[i]
            frame.update(
                {
                    "fl_x": float(fx),
                    "fl_y": float(fy),
                    "cx": float(cx),
                    "cy": float(cy),
                    "w": scene.width,
                    "h": scene.height,
                }
            )
        frame["transform_matrix"] = _matrix(scene.c2w[i])
        frames.append(frame)
    write_ply(path / "points3D.ply", scene.points, scene.colors)
    meta: dict = {"camera_model": "OPENCV"}
    if scene.shared_intrinsics:
        fx, fy, cx, cy = scene.intrinsics[0]
        meta.update({"fl_x": float(fx), "fl_y": float(fy), "cx": float(cx), "cy": float(cy)})
        meta.update({"w": scene.width, "h": scene.height})
    meta.update({"k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0})
    meta["frames"] = frames
    meta["ply_file_path"] = "points3D.ply"
    meta["foresplat"] = scene_metadata(scene, unit)
    out = path / "transforms.json"
    _write_json(out, meta)
    return out


def blender_splits(num_views: int, holdout_every: int = 8) -> dict[str, list[int]]:
    """View indices per Blender split: every ``holdout_every``-th view is held out for val and test."""
    held = list(range(0, num_views, holdout_every)) if num_views > 1 else []
    train = [i for i in range(num_views) if i not in held]
    return {"train": train, "val": held or train, "test": held or train}


def write_scene_blender(
    scene: Scene,
    path: Path,
    holdout_every: int = 8,
    depth_format: DepthFormat = "png",
    compress_level: int = 3,
) -> Path:
    """Write ``scene`` in the Blender/NeRF-synthetic layout; returns the folder.

    The format has one horizontal FOV per scene and a centred principal point,
    so the scene must be generated with ``shared_intrinsics=True``.
    """
    fx, fy, cx, cy = scene.intrinsics[0]
    if not (
        scene.shared_intrinsics
        and np.allclose(scene.intrinsics, scene.intrinsics[0])
        and np.isclose(fx, fy)
        and np.isclose(cx, scene.width / 2)
        and np.isclose(cy, scene.height / 2)
    ):
        raise ValueError("Blender format needs shared intrinsics with fx == fy and a centred principal point.")
    path = Path(path)
    camera_angle_x = float(2.0 * np.arctan(0.5 * scene.width / fx))
    alpha = np.full((scene.height, scene.width, 1), 255, dtype=np.uint8)
    unit = 1.0
    images = scene.images_uint8
    for i in range(scene.num_views):
        rgba = np.concatenate([images[i], alpha], axis=2)
        write_png(path / f"images/r_{i:03d}.png", rgba, compress_level)
        unit = write_depth(path / f"depths/r_{i:03d}.{depth_format}", scene.depths[i], compress_level)
    write_ply(path / "points3D.ply", scene.points, scene.colors)
    for split, indices in blender_splits(scene.num_views, holdout_every).items():
        payload = {
            "camera_angle_x": camera_angle_x,
            "frames": [
                {
                    "file_path": f"./images/r_{i:03d}",
                    "depth_file_path": f"depths/r_{i:03d}.{depth_format}",
                    "transform_matrix": _matrix(scene.c2w[i]),
                }
                for i in indices
            ],
            "ply_file_path": "points3D.ply",
            "foresplat": scene_metadata(scene, unit),
        }
        _write_json(path / f"transforms_{split}.json", payload)
    return path
