"""A folder of scenes: find them, load each with nerfstudio's own dataparsers.

Any scene nerfstudio reads is accepted: its `transforms.json` format, Blender's
`transforms_train.json`, and COLMAP's `sparse/0` (or `colmap/sparse/0`). Poses are
kept in the frame the scene was written in (no re-orientation, no re-centring), so
the Gaussians we predict live in the same world frame as the files on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Literal, Optional

import numpy as np
import torch
from jaxtyping import Float, UInt8
from PIL import Image
from torch import Tensor

from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.utils.rich_utils import CONSOLE

SceneFormat = Literal["nerfstudio", "blender", "colmap"]


class SceneDataError(ValueError):
    """A problem with the scenes on disk, stated in one line with its fix."""


@dataclass(frozen=True)
class SceneEntry:
    """A scene found on disk."""

    path: Path
    """The scene's folder."""
    format: SceneFormat
    """Which nerfstudio dataparser reads it."""

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Scene:
    """One scene in memory, at the working resolution."""

    name: str
    images: Float[Tensor, "views height width 3"]
    """Images in [0, 1]."""
    cameras: Cameras
    """One camera per image (OpenGL camera-to-world, as nerfstudio keeps them)."""
    near: float
    """A lower bound of the scene's depth in these cameras."""
    far: float
    """An upper bound of the scene's depth in these cameras."""
    depths: Optional[Float[Tensor, "views height width"]] = None
    """z-depth per pixel when the scene ships depth maps."""
    points: Optional[Float[Tensor, "points 3"]] = None
    """Sparse point cloud (SfM-like seed) when the scene has one."""
    point_colors: Optional[UInt8[Tensor, "points 3"]] = None
    """Colours of `points`, 0..255."""
    entry: Optional[SceneEntry] = None
    """Where the scene was read from."""

    @property
    def num_views(self) -> int:
        return self.images.shape[0]


def detect_format(folder: Path) -> Optional[SceneFormat]:
    """The scene format of `folder`, or None when it holds no scene."""
    if (folder / "transforms.json").is_file():
        return "nerfstudio"
    if (folder / "transforms_train.json").is_file():
        return "blender"
    for sparse in (folder / "colmap" / "sparse" / "0", folder / "sparse" / "0"):
        if (sparse / "cameras.bin").is_file() or (sparse / "cameras.txt").is_file():
            return "colmap"
    return None


def find_scenes(root: Path, split: Literal["train", "eval", "all"] = "train") -> List[SceneEntry]:
    """Every scene below `root`, sorted by path.

    When `root` holds `train/` and `eval/` (as `foresplat-scenes` writes), only the
    requested split is searched, so meta-training never sees evaluation scenes.
    """
    root = Path(root)
    if not root.exists():
        raise SceneDataError(
            f"data folder {root} does not exist: generate scenes with `foresplat-scenes --out {root}` "
            "or point --data at a folder of scenes"
        )
    if not root.is_dir():
        raise SceneDataError(f"{root} is not a folder: point --data at a folder that contains scenes")
    search_roots = [root]
    if split != "all" and (root / "train").is_dir() and (root / "eval").is_dir():
        search_roots = [root / split]
    elif split == "all" and (root / "train").is_dir() and (root / "eval").is_dir():
        search_roots = [root / "train", root / "eval"]

    found: List[SceneEntry] = []
    for search_root in search_roots:
        own = detect_format(search_root)
        if own is not None:
            found.append(SceneEntry(search_root, own))
            continue
        found.extend(_walk(search_root))
    if not found:
        where = " or ".join(str(r) for r in search_roots)
        if not any(p for p in root.iterdir()):
            raise SceneDataError(
                f"data folder {root} is empty: generate scenes with `foresplat-scenes --out {root}`"
            )
        raise SceneDataError(
            f"no scene found in {where}: a scene is a folder with transforms.json (nerfstudio), "
            "transforms_train.json (Blender) or sparse/0 (COLMAP)"
        )
    return sorted(found, key=lambda e: str(e.path))


def _walk(folder: Path) -> List[SceneEntry]:
    found = []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        fmt = detect_format(child)
        if fmt is not None:
            found.append(SceneEntry(child, fmt))
        else:
            found.extend(_walk(child))
    return found


def _dataparser_config(entry: SceneEntry):
    """nerfstudio's own dataparser for the scene, keeping the on-disk world frame."""
    if entry.format == "nerfstudio":
        from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

        return NerfstudioDataParserConfig(
            data=entry.path,
            orientation_method="none",
            center_method="none",
            auto_scale_poses=False,
            eval_mode="all",
            downscale_factor=1,
            load_3D_points=True,
        )
    if entry.format == "blender":
        from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig

        return BlenderDataParserConfig(data=entry.path)
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    colmap_path = Path("colmap/sparse/0") if (entry.path / "colmap/sparse/0").is_dir() else Path("sparse/0")
    return ColmapDataParserConfig(
        data=entry.path,
        colmap_path=colmap_path,
        orientation_method="none",
        center_method="none",
        auto_scale_poses=False,
        eval_mode="all",
        downscale_factor=1,
        load_3D_points=True,
    )


def parse_scene(entry: SceneEntry) -> list:
    """nerfstudio's `DataparserOutputs` covering every view of a scene.

    Blender scenes spread their views over train/val/test files; all are used, since
    context and target views are chosen by us, per step.
    """
    splits = ["train"]
    if entry.format == "blender":
        splits += [s for s in ("val", "test") if (entry.path / f"transforms_{s}.json").is_file()]
    parser = _dataparser_config(entry).setup()
    outputs = []
    for split in splits:
        try:
            # nerfstudio's parsers log advice meant for single-scene training; keep our console readable.
            with CONSOLE.capture():
                outputs.append(parser.get_dataparser_outputs(split=split))
        except Exception as error:  # nerfstudio's parsers raise many kinds; name the scene instead
            raise SceneDataError(f"cannot read scene {entry.path} ({entry.format} format): {error}") from error
    if sum(len(o.image_filenames) for o in outputs) == 0:
        raise SceneDataError(f"scene {entry.path} lists no images: check its {entry.format} camera file")
    return outputs


def working_size(width: int, height: int, resolution: int, multiple: int = 8) -> tuple[int, int]:
    """Image size whose longer side is about `resolution`, keeping the aspect ratio, in multiples of `multiple`.

    Multiples of 8 suit the initializer's downsampling levels and patch sizes.
    """
    scale = resolution / max(width, height)
    snap = lambda x: max(multiple, multiple * round(x * scale / multiple))  # noqa: E731
    return snap(width), snap(height)


def load_scene(entry: SceneEntry, resolution: int) -> Scene:
    """Load a scene's views rescaled so their longer side is `resolution` pixels."""
    parsed = parse_scene(entry)
    images, intrinsics, poses, depth_files, seen = [], [], [], [], set()
    for outputs in parsed:
        cams = outputs.cameras
        if not torch.all(cams.camera_type == CameraType.PERSPECTIVE.value):
            raise SceneDataError(f"scene {entry.path} has non-pinhole cameras: only perspective cameras are supported")
        for i, filename in enumerate(outputs.image_filenames):
            if Path(filename).resolve() in seen:  # Blender's val and test often list the same views
                continue
            seen.add(Path(filename).resolve())
            image = _read_image(Path(filename), entry, outputs.alpha_color)
            w0, h0 = int(cams.width[i]), int(cams.height[i])
            if image.shape[1] != w0 or image.shape[0] != h0:
                raise SceneDataError(
                    f"image {filename} is {image.shape[1]}x{image.shape[0]} but its camera says {w0}x{h0}: "
                    "fix the intrinsics (w, h, fl_x, cx...) or the image"
                )
            w, h = working_size(w0, h0, resolution)
            images.append(_resize(image, w, h))
            sx, sy = w / w0, h / h0
            intrinsics.append(
                [float(cams.fx[i]) * sx, float(cams.fy[i]) * sy, float(cams.cx[i]) * sx, float(cams.cy[i]) * sy, w, h]
            )
            poses.append(cams.camera_to_worlds[i].float())
        depth_files.extend(outputs.metadata.get("depth_filenames") or [])
    sizes = {(img.shape[1], img.shape[0]) for img in images}
    if len(sizes) > 1:
        raise SceneDataError(f"scene {entry.path} mixes image sizes {sorted(sizes)}: use one size per scene")

    k = torch.tensor(intrinsics, dtype=torch.float32)
    cameras = Cameras(
        camera_to_worlds=torch.stack(poses),
        fx=k[:, 0:1], fy=k[:, 1:2], cx=k[:, 2:3], cy=k[:, 3:4],
        width=k[:, 4:5].long(), height=k[:, 5:6].long(),
        camera_type=CameraType.PERSPECTIVE,
    )
    metadata = parsed[0].metadata
    points, colors = metadata.get("points3D_xyz"), metadata.get("points3D_rgb")
    depths = None
    if len(depth_files) == len(images):
        unit = float(metadata.get("depth_unit_scale_factor", 1.0))
        depths = _read_depths(depth_files, unit, images[0].shape[1], images[0].shape[0])
    near, far = _depth_range(entry, cameras, points)
    return Scene(
        name=entry.name,
        images=torch.from_numpy(np.stack(images)),
        cameras=cameras,
        near=near,
        far=far,
        depths=depths,
        points=None if points is None else points.float(),
        point_colors=None if colors is None else colors.to(torch.uint8),
        entry=entry,
    )


def _read_image(path: Path, entry: SceneEntry, alpha_color: Optional[Tensor]) -> np.ndarray:
    if not path.is_file():
        raise SceneDataError(f"image {path} of scene {entry.path} is missing: restore it or remove its frame")
    try:
        with Image.open(path) as pil:
            pil.load()
            mode_has_alpha = pil.mode in ("RGBA", "LA")
            array = np.asarray(pil.convert("RGBA" if mode_has_alpha else "RGB"), dtype=np.float32) / 255.0
    except Exception as error:
        raise SceneDataError(f"image {path} of scene {entry.path} is unreadable ({error}): replace it") from error
    if array.shape[-1] == 4:
        background = np.ones(3, np.float32) if alpha_color is None else alpha_color.numpy().astype(np.float32)
        array = array[..., :3] * array[..., 3:] + background * (1.0 - array[..., 3:])
    return array


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    # Area averaging in float keeps colours exact when downsampling.
    channels = [
        np.asarray(Image.fromarray(image[..., c]).resize((width, height), Image.Resampling.BOX))
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def _read_depths(filenames: List[Path], unit: float, width: int, height: int) -> Tensor:
    depths = []
    for filename in filenames:
        filename = Path(filename)
        if filename.suffix == ".npy":
            depth = np.load(filename).astype(np.float32)
        else:
            with Image.open(filename) as pil:
                depth = np.asarray(pil, dtype=np.float32) * unit
        # Nearest neighbour: averaging depth across an occlusion edge invents surfaces.
        depth = np.asarray(Image.fromarray(depth).resize((width, height), Image.Resampling.NEAREST))
        depths.append(depth)
    return torch.from_numpy(np.stack(depths))


def _depth_range(entry: SceneEntry, cameras: Cameras, points: Optional[Tensor]) -> tuple[float, float]:
    """Near/far of the scene: written by our generator, else from the point cloud, else from the cameras."""
    stated = stated_depth_range(entry.path)
    return stated if stated is not None else estimate_depth_range(cameras, points)


def stated_depth_range(folder: Path) -> Optional[tuple[float, float]]:
    """Near/far that a scene states in its transforms file (our generator writes them), or None."""
    for meta_file in (folder / "transforms.json", folder / "transforms_train.json"):
        if meta_file.is_file():
            extra = json.loads(meta_file.read_text()).get("foresplat", {})
            if "near" in extra and "far" in extra:
                return float(extra["near"]), float(extra["far"])
    return None


def estimate_depth_range(cameras: Cameras, points: Optional[Tensor]) -> tuple[float, float]:
    """Near/far from the point cloud's depths in the cameras (1st/99th percentile, widened), else from camera spread."""
    c2w = cameras.camera_to_worlds.reshape(-1, 3, 4).float()
    centres = c2w[:, :3, 3]
    if points is not None and len(points) >= 8:
        # Depth along each camera's viewing axis (-z in OpenGL).
        rel = points.float()[None] - centres[:, None]
        z = -(rel @ c2w[:, :3, 2:3]).squeeze(-1)
        z = z[z > 0]
        if z.numel() >= 8:
            # A strided subsample keeps every camera represented (quantile has an input size limit).
            z = z[:: max(1, z.numel() // 100_000)]
            lo, hi = torch.quantile(z, torch.tensor([0.01, 0.99])).tolist()
            return max(lo * 0.5, 1e-3), hi * 1.5
    spread = float((centres - centres.mean(0)).norm(dim=-1).max().clamp_min(1e-3))
    return 0.05 * spread, 20.0 * spread
