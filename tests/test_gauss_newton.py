"""Gauss-Newton products against JᵀJ v from an explicit Jacobian of a tiny render."""

import pytest
import torch

from nerfstudio.cameras.cameras import Cameras

from foresplat_ns.gaussians import Gaussians
from foresplat_ns.meta.gauss_newton import gauss_newton_product
from foresplat_ns.rendering.views import render_views

KEYS = ["means", "log_scales", "logit_opacities", "sh_dc"]


def _problem():
    g = torch.Generator().manual_seed(0)
    n = 6
    quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
    base = Gaussians(
        means=torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.3,
        log_scales=torch.full((n, 3), -2.0, dtype=torch.float64) + 0.2 * torch.randn(n, 3, generator=g, dtype=torch.float64),
        quats=quats / quats.norm(dim=-1, keepdim=True),
        logit_opacities=torch.randn(n, 1, generator=g, dtype=torch.float64),
        sh_dc=torch.randn(n, 3, generator=g, dtype=torch.float64),
        sh_rest=torch.zeros(n, 0, 3, dtype=torch.float64),
    )
    c2w = torch.eye(4, dtype=torch.float64)[:3][None].clone()
    c2w[0, 2, 3] = 2.0
    camera = Cameras(camera_to_worlds=c2w, fx=12.0, fy=12.0, cx=6.0, cy=6.0, width=12, height=12)
    target = torch.rand(1, 12, 12, 3, generator=g, dtype=torch.float64)

    def residual(theta):
        gaussians = base.replace(**theta)
        return (render_views(gaussians, camera, torch.zeros(3, dtype=torch.float64)).rgb - target).reshape(-1)

    theta = {k: getattr(base, k) for k in KEYS}
    v = {k: torch.randn(t.shape, generator=g, dtype=torch.float64) for k, t in theta.items()}
    return residual, theta, v


def _flat(d):
    return torch.cat([d[k].reshape(-1) for k in KEYS])


def _jacobian(residual, theta):
    """The explicit Jacobian of the residual with respect to the flattened parameters."""
    sizes = [theta[k].numel() for k in KEYS]

    def flat_residual(x):
        parts = torch.split(x, sizes)
        return residual({k: p.reshape(theta[k].shape) for k, p in zip(KEYS, parts)})

    return torch.autograd.functional.jacobian(flat_residual, _flat(theta))


@pytest.mark.parametrize("mode", ["forward", "finite-difference"])
def test_product_equals_explicit_jacobian(mode):
    residual, theta, v = _problem()
    jacobian = _jacobian(residual, theta)
    damping = {k: torch.full_like(t, 0.5) for k, t in theta.items()}
    expected = jacobian.T @ (jacobian @ _flat(v)) + 0.5 * _flat(v)
    product = gauss_newton_product(residual, theta, v, damping, mode=mode, eps=1e-5)
    assert torch.allclose(_flat(product), expected, rtol=1e-6 if mode == "forward" else 1e-4, atol=1e-8)


@pytest.mark.parametrize("mode", ["forward", "finite-difference"])
def test_one_operator_serves_many_products_and_its_diagonal(mode):
    from foresplat_ns.meta.gauss_newton import GaussNewton

    residual, theta, v = _problem()
    jacobian = _jacobian(residual, theta)
    operator = GaussNewton(residual, theta, mode=mode, eps=1e-5)
    g = torch.Generator().manual_seed(1)
    for scale in (1.0, 1e-3, 1e3):  # a solve's directions vary widely in size
        w = {k: scale * torch.randn(t.shape, generator=g, dtype=torch.float64) for k, t in theta.items()}
        expected = jacobian.T @ (jacobian @ _flat(w))
        assert torch.allclose(_flat(operator.product(w)), expected, rtol=1e-6 if mode == "forward" else 1e-4, atol=1e-8 * scale)
    # After those products the shared pullback still gives the standalone estimate (same seed).
    from foresplat_ns.meta.gauss_newton import gauss_newton_diagonal

    assert torch.equal(_flat(operator.diagonal(8, seed=3)), _flat(gauss_newton_diagonal(residual, theta, samples=8, seed=3)))


def test_diagonal_estimate_is_unbiased_and_positive():
    from foresplat_ns.meta.gauss_newton import gauss_newton_diagonal

    residual, theta, _ = _problem()
    jacobian = _jacobian(residual, theta)
    exact = (jacobian**2).sum(0)
    estimate = _flat(gauss_newton_diagonal(residual, theta, samples=2000, seed=0))
    assert torch.all(estimate >= 0)
    # Relative standard error of a 2000-sample mean is at most sqrt(2 / 2000) ~ 3%.
    assert torch.allclose(estimate, exact, rtol=0.15, atol=1e-6 * float(exact.max()))
