"""Small rotation and vector helpers shared by the scene modules."""

from __future__ import annotations

import numpy as np


def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit vectors along ``axis``."""
    return v / np.linalg.norm(v, axis=axis, keepdims=True).clip(1e-12)


def rotation_z(angle: float) -> np.ndarray:
    """Rotation about the z axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(angle: float) -> np.ndarray:
    """Rotation about the x axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation of ``angle`` radians about a unit ``axis`` (Rodrigues)."""
    x, y, z = normalize(np.asarray(axis, dtype=np.float64))
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random rotation matrix."""
    w, x, y, z = normalize(rng.normal(size=4))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
