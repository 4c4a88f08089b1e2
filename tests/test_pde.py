"""Poisson solvers (phasekit.dynamics.pde): the residual and Ritz losses against closed forms at
and around the exact solution, their gradients against finite differences, and Jacobi's
per-sine-mode error decay against the eigenvalues of the discrete Laplacian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.dynamics import pde
from phasekit.models import mlp

PI = np.pi


def _bump(x):
    """phi = prod_a sin(pi (x_a + 1) / 2): zero on the boundary of [-1, 1]^d, int phi^2 = 1,
    int |grad phi|^2 = d pi^2 / 4, Laplace phi = -d (pi/2)^2 phi."""
    return jnp.prod(jnp.sin(PI * (x + 1) / 2), axis=1)


def _perturbed(problem):
    """u_c = u* + c phi as an (apply, params) model, params = {"c": scalar}."""
    return lambda p, x: problem.exact(x) + p["c"] * _bump(x)


def test_book_solution_solves_the_book_problem():
    prob = pde.book_problem()
    x = jnp.linspace(-1, 1, 101)[:, None]
    s = x[:, 0]
    f = jnp.sin(s) + 4 * jnp.sin(4 * s) - 8 * jnp.sin(8 * s) + 16 * jnp.sin(24 * s)
    np.testing.assert_allclose(-pde.derivatives(prob.exact, x)[2], f, atol=2e-4)
    np.testing.assert_allclose(prob.exact(jnp.array([[-1.0], [1.0]])), 0.0, atol=1e-6)


@pytest.mark.parametrize("dim", [1, 2])
def test_residual_loss_zero_at_solution_and_its_closed_form_around_it(dim):
    """L_res(u*) = 0 and, for phi = 0 on the boundary, L_res(u* + c phi) = c^2/(2|Omega|) int
    (Laplace phi)^2 = c^2 d^2 pi^4 / (32 |Omega|): d = 1: c^2 pi^4 / 64; d = 2: c^2 pi^4 / 32."""
    prob = (
        pde.book_problem()
        if dim == 1
        else pde.manufactured(lambda x: jnp.sin(PI * x[:, 0]) * jnp.sin(2 * PI * x[:, 1]), dim=2)
    )
    data = pde.gauss(prob, 60 if dim == 1 else 24)
    loss = jax.jit(pde.residual_loss(_perturbed(prob), prob, beta=50.0, n_boundary=9))
    assert float(loss({"c": 0.0}, data)) < 1e-9
    want = {1: PI**4 / 64, 2: PI**4 / 32}[dim]
    for c in (-0.5, 0.1, 1.0):
        np.testing.assert_allclose(float(loss({"c": c}, data)), c**2 * want, rtol=1e-4)


@pytest.mark.parametrize("dim", [1, 2])
def test_ritz_energy_is_minimized_at_the_solution(dim):
    """For phi = 0 on the boundary: E(u* + c phi) - E(u*) = c^2/2 int |grad phi|^2 = c^2 d pi^2 / 8
    (the linear term vanishes by integration by parts: int grad u*.grad phi = int f phi), so the
    energy difference is >= 0 and zero only at c = 0."""
    prob = (
        pde.book_problem()
        if dim == 1
        else pde.manufactured(lambda x: jnp.sin(PI * x[:, 0]) * jnp.sin(2 * PI * x[:, 1]), dim=2)
    )
    data = pde.gauss(prob, 80 if dim == 1 else 24)
    energy = jax.jit(pde.ritz_loss(_perturbed(prob), prob, beta=50.0, n_boundary=9))
    e0 = float(energy({"c": 0.0}, data))
    for c in (-0.3, -0.05, 0.05, 0.3):
        diff = float(energy({"c": c}, data)) - e0
        np.testing.assert_allclose(diff, c**2 * dim * PI**2 / 8, rtol=2e-3)
        assert diff > 0


def test_boundary_penalty_weight():
    """A constant shift u* + c violates u = 0 on the boundary: the penalty adds beta c^2 / 2."""
    prob = pde.book_problem()
    data = pde.gauss(prob, 60)
    shifted = lambda p, x: prob.exact(x) + p["c"]
    for beta in (1.0, 10.0):
        loss = jax.jit(pde.residual_loss(shifted, prob, beta=beta))
        np.testing.assert_allclose(float(loss({"c": 0.2}, data)), beta * 0.04 / 2, rtol=1e-4)


@pytest.mark.parametrize("kind", ["residual", "ritz"])
@pytest.mark.parametrize("dim", [1, 2])
def test_loss_gradients_match_finite_differences(kind, dim):
    with jax.enable_x64(True):
        prob = (
            pde.book_problem()
            if dim == 1
            else pde.manufactured(lambda x: jnp.sin(PI * x[:, 0]) * jnp.sin(PI * x[:, 1]), dim=2)
        )
        data = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), pde.gauss(prob, 12))
        p = mlp.init(jax.random.key(0), [dim, 10, 1], bias_std=0.5, dtype=jnp.float64)
        make = pde.residual_loss if kind == "residual" else pde.ritz_loss
        loss = jax.jit(make(lambda q, x: mlp.apply(q, x, "tanh"), prob, beta=30.0, n_boundary=4))
        v = jax.tree_util.tree_map(
            lambda a: jax.random.normal(jax.random.key(1), a.shape, a.dtype), p
        )
        grad = jax.grad(loss)(p, data)
        analytic = sum(
            jnp.vdot(g, d)
            for g, d in zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v))
        )
        eps = 1e-5
        shift = lambda s: jax.tree_util.tree_map(lambda a, d: a + s * d, p, v)
        numeric = (loss(shift(eps), data) - loss(shift(-eps), data)) / (2 * eps)
        np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-6)


def test_resampled_points_are_fresh_and_unbiased():
    """Monte Carlo Ritz energy on fresh uniform points: the mean over draws approaches the
    quadrature value (within 4 standard errors); different keys give different points."""
    prob = pde.book_problem()
    model = _perturbed(prob)
    lk = pde.resampled(pde.ritz_loss(model, prob), prob, n=256)
    dummy = pde.gauss(prob, 4)
    vals = jax.jit(jax.vmap(lambda k: lk({"c": 0.3}, dummy, k)))(
        jax.random.split(jax.random.key(0), 400)
    )
    ref = float(pde.ritz_loss(model, prob)({"c": 0.3}, pde.gauss(prob, 80)))
    assert float(jnp.std(vals)) > 0
    assert abs(float(jnp.mean(vals)) - ref) < 4 * float(jnp.std(vals)) / np.sqrt(400)


def test_sine_transform_inverts():
    n = 16
    c = jax.random.normal(jax.random.key(2), (n - 1,))
    j = np.arange(n + 1)
    u = jnp.asarray(np.sin(PI * np.outer(j, np.arange(1, n)) / n)) @ c
    np.testing.assert_allclose(pde.sine_coefficients(u, np.arange(1, n)), c, atol=1e-5)


@pytest.mark.parametrize("omega", [1.0, 2.0 / 3.0])
def test_jacobi_error_per_sine_mode_decays_at_the_discrete_laplacian_rate(omega):
    """With f = 0, g = 0 the iterate is the error; sine mode k is multiplied by
    rho_k = 1 - omega (1 - cos(k pi / N)) per sweep (cos(k pi / N) for plain Jacobi)."""
    n, modes = 32, np.array([1, 5, 16, 27, 31])
    j = np.arange(n + 1)
    u0 = jnp.asarray(np.sin(PI * np.outer(j, modes) / n).sum(1), jnp.float32)
    rec = np.array([0, 1, 7, 40])
    tr = pde.jacobi(
        u0,
        jnp.zeros(n + 1),
        1.0 / n,
        40,
        omega,
        record_at=rec,
        observe=lambda u: {"c": pde.sine_coefficients(u, modes)},
    )
    rho = pde.jacobi_factor(modes, n, omega)
    if omega == 1.0:
        np.testing.assert_allclose(rho, np.cos(modes * PI / n), atol=1e-12)
    np.testing.assert_allclose(tr.observables["c"], rho[None, :] ** rec[:, None], atol=2e-5)


def test_jacobi_2d_mode_factor():
    n, modes = 16, np.array([[1, 2], [7, 3], [15, 15]])
    j = np.arange(n + 1)
    s = lambda k: np.sin(PI * k * j / n)
    u0 = jnp.asarray(sum(np.outer(s(a), s(b)) for a, b in modes), jnp.float32)
    omega = 0.8
    tr = pde.jacobi(
        u0,
        jnp.zeros_like(u0),
        1.0 / n,
        10,
        omega,
        record_at=np.array([0, 10]),
        observe=lambda u: {"c": pde.sine_coefficients_2d(u, modes)},
    )
    rho = 1 - omega * (1 - (np.cos(modes[:, 0] * PI / n) + np.cos(modes[:, 1] * PI / n)) / 2)
    np.testing.assert_allclose(pde.jacobi_factor(modes, n, omega), rho)
    np.testing.assert_allclose(tr.observables["c"][-1], rho**10, atol=2e-5)


def test_jacobi_converges_to_the_finite_difference_solution():
    prob = pde.book_problem()
    n = 40
    x = jnp.asarray(pde.grid(prob, n), jnp.float32)
    u_h = pde.discrete_solution(prob, n)
    h = 2.0 / n
    # A u_h = f at interior points
    np.testing.assert_allclose(
        (2 * u_h[1:-1] - u_h[:-2] - u_h[2:]) / h**2,
        np.asarray(prob.f(x))[1:-1],
        rtol=1e-6,
        atol=1e-5,
    )
    tr = pde.jacobi(jnp.zeros(n + 1), prob.f(x), h, 6000, 1.0, record_at=np.array([0, 6000]))
    # slowest mode: rho_1^6000 = cos(pi / 40)^6000 ~ 1e-8
    np.testing.assert_allclose(tr.u, u_h, atol=1e-4)


def test_jacobi_closed_form_equals_the_iteration():
    prob = pde.book_problem()
    n = 50
    x = jnp.asarray(pde.grid(prob, n), jnp.float32)
    u_h = jnp.asarray(pde.discrete_solution(prob, n), jnp.float32)
    u0 = (
        jnp.asarray(np.random.default_rng(0).normal(size=n + 1), jnp.float32)
        .at[jnp.array([0, n])]
        .set(0.0)
    )
    rec = np.array([0, 3, 50, 400])
    for omega in (1.0, 0.6):
        tr = pde.jacobi(
            u0, prob.f(x), 2.0 / n, 400, omega, record_at=rec, observe=lambda u: {"u": u}
        )
        np.testing.assert_allclose(
            pde.jacobi_closed_form(u0, u_h, rec, n, omega), tr.observables["u"], atol=1e-4
        )


def test_xla_flops_of_a_jacobi_sweep_scale_with_the_grid():
    small, large = (
        pde.xla_flops(lambda u: pde.jacobi_step(u, u, 0.1), jnp.zeros(m)) for m in (101, 1001)
    )
    assert 5 < large / small < 15


@pytest.mark.parametrize("kind", ["constant", "cosine", "exponential"])
def test_high_frequency_lr_schedule_closed_forms(kind):
    """lr(t), T = steps, a = lr_final: constant lr; cosine lr (a + (1 - a)(1 + cos(pi t / T)) / 2);
    exponential lr a^(t / T). All start at lr; the decays end at lr * a."""
    from phasekit.experiments.pde import HighFrequencyConfig, _lr

    cfg = HighFrequencyConfig(steps=1000, lr=2e-3, lr_final=0.04, lr_schedule=kind)
    t = np.array([0, 250, 500, 1000])
    if kind == "constant":
        want = np.full(4, 2e-3)
    elif kind == "cosine":
        want = 2e-3 * (0.04 + 0.96 * (1 + np.cos(PI * t / 1000)) / 2)
    else:
        want = 2e-3 * 0.04 ** (t / 1000)
    sched = _lr(cfg)
    got = [sched(int(s)) if callable(sched) else sched for s in t]
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5)


def test_high_frequency_config_rejects_unknown_schedule():
    from phasekit.experiments.pde import HighFrequencyConfig

    with pytest.raises(ValueError, match="lr_schedule"):
        HighFrequencyConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="lr_final"):
        HighFrequencyConfig(lr_final=0.0)
