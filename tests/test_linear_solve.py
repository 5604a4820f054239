"""PCG on dicts of tensors against a dense solve."""

import math

import torch

from foresplat_ns.meta.linear_solve import cosine, jacobi, solve_cg


def _system(seed: int, n: int = 30, condition: float = 1e3):
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64)).Q
    eigen = torch.logspace(0, torch.log10(torch.tensor(condition)).item(), n, dtype=torch.float64)
    a = q @ torch.diag(eigen) @ q.T
    b = torch.randn(n, generator=g, dtype=torch.float64)
    return a, b


def _split(v):
    return {"means": v[:12].reshape(4, 3), "scales": v[12:24].reshape(4, 3), "opacities": v[24:].reshape(-1, 1)}


def _join(d):
    return torch.cat([d["means"].reshape(-1), d["scales"].reshape(-1), d["opacities"].reshape(-1)])


def test_cg_equals_dense_solve_on_random_spd_systems():
    for seed in range(5):
        a, b = _system(seed)
        x, info = solve_cg(lambda v: _split(a @ _join(v)), _split(b), maxiter=200, rtol=1e-12)
        assert info.converged and info.relative_residual <= 1e-12
        assert torch.allclose(_join(x), torch.linalg.solve(a, b), rtol=1e-8, atol=1e-10)


def test_jacobi_preconditioning_needs_fewer_iterations_on_a_badly_scaled_system():
    a, b = _system(0, condition=10.0)
    scaling = torch.logspace(-2, 2, 30, dtype=torch.float64)
    a = scaling[:, None] * a * scaling[None, :]  # SPD, diagonal spread over 8 orders of magnitude
    matvec = lambda v: _split(a @ _join(v))  # noqa: E731
    plain_x, plain = solve_cg(matvec, _split(b), maxiter=500, rtol=1e-10)
    pre_x, pre = solve_cg(matvec, _split(b), precond=jacobi(_split(torch.diag(a))), maxiter=500, rtol=1e-10)
    assert pre.converged and pre.iterations < plain.iterations
    assert torch.allclose(_join(pre_x), torch.linalg.solve(a, b), rtol=1e-6)


def test_maxiter_is_respected_and_reported():
    a, b = _system(1, condition=1e6)
    x, info = solve_cg(lambda v: _split(a @ _join(v)), _split(b), maxiter=3, rtol=1e-14)
    assert info.iterations == 3 and not info.converged
    exact = torch.linalg.norm(b - a @ _join(x)) / torch.linalg.norm(b)
    assert abs(info.relative_residual - float(exact)) < 1e-8


def test_callback_sees_every_iterate_and_its_true_residual():
    a, b = _system(2, condition=1e2)
    seen = []

    def record(iteration, x, relative):
        exact = torch.linalg.norm(b - a @ _join(x)) / torch.linalg.norm(b)
        seen.append((iteration, relative, float(exact)))

    x, info = solve_cg(lambda v: _split(a @ _join(v)), _split(b), maxiter=8, rtol=1e-14, callback=record)
    assert [s[0] for s in seen] == list(range(1, info.iterations + 1)) and info.iterations == 8
    assert all(abs(reported - exact) < 1e-8 for _, reported, exact in seen)
    assert seen[-1][1] == info.relative_residual


def test_cosine_of_dicts_equals_the_flat_vector_cosine():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(30, generator=g, dtype=torch.float64), torch.randn(30, generator=g, dtype=torch.float64)
    flat = float(a @ b / (a.norm() * b.norm()))
    assert abs(cosine(_split(a), _split(b)) - flat) < 1e-12
    assert abs(cosine(_split(a), _split(-3.0 * a)) + 1.0) < 1e-12
    assert math.isnan(cosine(_split(a), _split(torch.zeros(30, dtype=torch.float64))))
