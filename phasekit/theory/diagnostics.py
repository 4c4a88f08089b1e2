"""Training diagnostics of the course (spec 07, "Course diagnostics"), for any model.

Signal propagation at init (He et al. 2015; Poole et al. 2016). With z_l = h_{l-1} W_l and
W_l ~ N(0, sigma_l^2), the pre-activation variance q_l = Var[z_l] obeys the mean-field map

    q_l = n_{l-1} sigma_l^2 E_{z ~ N(0, q_{l-1})}[phi(z)^2]       (ReLU: = (n_{l-1} sigma_l^2 / 2) q_{l-1})

so He (sigma^2 = 2 / n) keeps q constant for ReLU and std 0.01 makes it vanish geometrically.

Gradient noise scale (McCandlish et al. 2018). With per-example gradients g_i, G = mean g_i and
Sigma their covariance over the data (1/n normalization),

    B_simple = tr(Sigma) / |G|^2;     E|G_B|^2 = |G|^2 + tr(Sigma) / B   (B samples with replacement)

so two batch sizes b < B give |G|^2 ~ (B |G_B|^2 - b |G_b|^2) / (B - b) and
tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B).

Loss landscape along the gradient (Santurkar et al. 2018): for steps eta on a grid,
L(w - eta g) (its range is the "loss variation") and |g(w) - g(w - eta g)| (its maximum is the
"gradient predictiveness"; divided by eta |g| it is the effective beta-smoothness).

Spectral filters on least squares L(w) = |X w - y|^2 / (2n), H = X^T X / n = V diag(s) V^T,
b = X^T y / n, OLS coefficients c_k = v_k.b / s_k. GD from w = 0 with step eta for t steps and
ridge (L + lambda |w|^2 / 2) are both w = sum_k phi(s_k) c_k v_k with

    phi_GD(s) = 1 - (1 - eta s)^t,      phi_ridge(s) = s / (s + lambda),

which agree closely for lambda ~ 1 / (eta t).

Quadratics f(x) = x^T A x / 2 with eigenvalues in [mu, L], kappa = L / mu: GD with step
2 / (L + mu) contracts |x_t| by (kappa - 1) / (kappa + 1) per step; heavy ball with step
4 / (sqrt L + sqrt mu)^2 and momentum ((sqrt L - sqrt mu) / (sqrt L + sqrt mu))^2 by
(sqrt kappa - 1) / (sqrt kappa + 1) (Polyak 1964).

``loss_fn(params, data) -> scalar`` (a mean over the samples of ``data``) as in
:func:`phasekit.dynamics.train.run`; every function is pure, jit- and vmap-able.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.models import activations, mlp

__all__ = [
    "GradientDirection",
    "LeastSquares",
    "NoiseScale",
    "activation_variances",
    "batch_gradient_sq_norms",
    "contraction_rate",
    "early_stopping_filter",
    "effective_smoothness",
    "estimated_noise_scale",
    "flax_activation_statistics",
    "gd_optimal_lr",
    "gd_rate",
    "gradient_direction",
    "gradient_noise_scale",
    "gradient_predictiveness",
    "heavy_ball_rate",
    "heavy_ball_tuning",
    "least_squares_spectrum",
    "loss_variation",
    "matched_ridge",
    "measured_filter",
    "mlp_activation_statistics",
    "mlp_preactivations",
    "named_gradient_norms",
    "per_example_gradients",
    "quadratic_spectrum",
    "ridge_filter",
    "second_moments",
    "spectral_solution",
    "steps_epochs_fit",
    "steps_to_target",
    "two_batch_noise_scale",
    "variance_map",
    "variance_recursion",
]

Params = Any


# ----------------------------------------------------------------------------- activations


def mlp_preactivations(
    params: list[dict], x: jax.Array, activation="relu", **hidden_kwargs
) -> list[jax.Array]:
    """Pre-activations z_1..z_L of :mod:`phasekit.models.mlp` (z_L: the output before squeezing),
    each [n, n_l], from the model's own forward pass (:func:`mlp.hidden`)."""
    hs = [x] + mlp.hidden(params, x, activation, **hidden_kwargs)
    return [h @ layer["w"] + layer.get("b", 0.0) for h, layer in zip(hs, params)]


def activation_variances(values) -> jax.Array:
    """Var over samples and units of each layer's activations ``values`` (list of [n, n_l]) -> [L]."""
    return jnp.stack([jnp.var(v) for v in values])


def second_moments(values) -> jax.Array:
    """E[v^2] over samples and units of each layer's activations ``values`` (list of [n, n_l]) -> [L]."""
    return jnp.stack([jnp.mean(v**2) for v in values])


def mlp_activation_statistics(params: list[dict], x: jax.Array, activation="relu") -> dict:
    """{"pre_var": [L] q_l = E[z_l^2], "post_var": [L-1] Var[h_l], "post_mean": [L-1] E[h_l]} of an mlp.

    q_l is the second moment of the pre-activations: their variance at init with zero biases
    (z = h W with zero-mean W), taken without subtracting the sample mean so that for ReLU
    E[q_l / q_{l-1}] = n sigma^2 / 2 holds exactly (flip symmetry w_j -> -w_j), not only to O(1/n).

    Args:
      params: :mod:`phasekit.models.mlp` parameters, L layers;  x: [n, d];  activation: sigma.
    """
    hs = mlp.hidden(params, x, activation)
    return {
        "pre_var": second_moments(mlp_preactivations(params, x, activation)),
        "post_var": activation_variances(hs),
        "post_mean": jnp.stack([jnp.mean(h) for h in hs]),
    }


def flax_activation_statistics(module, variables, x, **apply_kwargs) -> dict:
    """Mean and std of the output of every submodule of a Flax linen ``module``, through
    ``capture_intermediates``: {"Dense_0": {"mean": scalar, "std": scalar}, ..., "": (the
    module's own output)}. Submodules returning tuples are skipped. ``apply_kwargs``: e.g.
    ``train=False``; a mutable collection (``batch_stats``) is not updated. ``variables``: the
    module's Flax variables; ``x``: its input batch."""
    _, state = module.apply(
        variables, x, capture_intermediates=True, mutable=["intermediates"], **apply_kwargs
    )
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]:
        keys = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
        names = [str(k) for k in keys if isinstance(k, str) and k != "__call__"]
        out["/".join(names)] = {"mean": jnp.mean(leaf), "std": jnp.std(leaf)}
    return out


def named_gradient_norms(loss_fn: Callable, params: Params, *args) -> dict:
    """|dL/dp|_F of every leaf of any params pytree (mlp lists, Flax dicts): {"path": norm}.

    ``loss_fn(params, *args) -> scalar``; keys are ``jax.tree_util.keystr`` paths, values scalars.
    """
    grads = jax.grad(loss_fn)(params, *args)
    return {
        jax.tree_util.keystr(path): jnp.linalg.norm(g)
        for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]
    }


def variance_map(activation, q, weight_var, nodes: int = 101):
    """Mean-field pre-activation variance of the next layer, n sigma_w^2 E_{z~N(0,q)}[phi(z)^2],
    by Gauss-Hermite quadrature with ``nodes`` points; ``weight_var = n_{l-1} sigma_w^2`` (fan-in
    times weight variance; He: 2). For ReLU this is ``weight_var * q / 2``."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-t^2/2)
    phi = activations.get(activation)
    z = jnp.sqrt(jnp.asarray(q))[..., None] * t
    return jnp.asarray(weight_var) * jnp.sum(w * phi(z) ** 2, -1) / np.sqrt(2 * np.pi)


def variance_recursion(activation, q1, weight_vars) -> jax.Array:
    """q_1, q_2, ..., q_L from q_1 by :func:`variance_map` with ``weight_vars [L-1]`` (n_{l-1}
    sigma_l^2 of layers 2..L) -> [L]: q_l = n_{l-1} sigma_l^2 E_{z~N(0, q_{l-1})}[phi(z)^2].
    ``activation``: phi (a name or callable); ``q1``: the first layer's second moment."""

    def step(q, wv):
        nq = variance_map(activation, q, wv)
        return nq, nq

    _, qs = jax.lax.scan(step, jnp.asarray(q1, jnp.result_type(float)), jnp.asarray(weight_vars))
    return jnp.concatenate([jnp.asarray(q1, qs.dtype)[None], qs])


# ----------------------------------------------------------------------------- gradient noise


def _one(data, i):
    return jax.tree_util.tree_map(lambda a: a[i][None], data)


def per_example_gradients(loss_fn: Callable, params: Params, data) -> jax.Array:
    """g_i = grad loss_fn(params, {x_i, y_i}) of every sample, flattened: [n, P] (vmap of grad).

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled).
      data: ``(x [n, ...], y [n, ...])`` (leaves with a leading sample axis n).
    Returns:
      [n, P].
    """
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    return jax.vmap(lambda i: ravel_pytree(jax.grad(loss_fn)(params, _one(data, i)))[0])(
        jnp.arange(n)
    )


class NoiseScale(NamedTuple):
    """b_simple = trace_sigma / grad_sq_norm (scalars)."""

    b_simple: jax.Array
    trace_sigma: jax.Array
    grad_sq_norm: jax.Array


def gradient_noise_scale(loss_fn: Callable, params: Params, data) -> NoiseScale:
    """Exact B_simple = tr(Sigma) / |G|^2 over the data set, Sigma = (1/n) sum (g_i - G)(g_i - G)^T.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled).
      data: ``(x [n, ...], y [n, ...])`` (leaves with a leading sample axis n).
    Returns:
      :class:`NoiseScale` (b_simple, trace_sigma, grad_sq_norm), scalars.
    """
    g = per_example_gradients(loss_fn, params, data)
    mean = g.mean(0)
    tr = jnp.mean(jnp.sum((g - mean) ** 2, -1))
    sq = jnp.sum(mean**2)
    return NoiseScale(tr / sq, tr, sq)


def batch_gradient_sq_norms(
    loss_fn: Callable, params: Params, data, batch_size: int, draws: int, key
) -> jax.Array:
    """|G_B|^2 of ``draws`` minibatches of ``batch_size`` samples drawn with replacement: [draws].

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled).
      data: ``(x [n, ...], y [n, ...])`` (leaves with a leading sample axis n).
      batch_size: B;  draws: how many minibatches;  key: PRNG key of the draws.
    Returns:
      [draws].
    """
    n = jax.tree_util.tree_leaves(data)[0].shape[0]

    def one(k):
        idx = jax.random.randint(k, (batch_size,), 0, n)
        batch = jax.tree_util.tree_map(lambda a: a[idx], data)
        return jnp.sum(ravel_pytree(jax.grad(loss_fn)(params, batch))[0] ** 2)

    return jax.vmap(one)(jax.random.split(key, draws))


def two_batch_noise_scale(sq_small, sq_big, b_small, b_big) -> NoiseScale:
    """McCandlish et al.'s unbiased estimates from mean |G_b|^2 and |G_B|^2 at sizes b < B:

        |G|^2 ~ (B |G_B|^2 - b |G_b|^2) / (B - b),   tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)

    Args:
      sq_small, sq_big: mean |G_b|^2 and |G_B|^2 (scalars);  b_small, b_big: b < B.
    Returns:
      :class:`NoiseScale` of the estimates.
    """
    grad_sq = (b_big * sq_big - b_small * sq_small) / (b_big - b_small)
    tr = (sq_small - sq_big) / (1.0 / b_small - 1.0 / b_big)
    return NoiseScale(tr / grad_sq, tr, grad_sq)


def estimated_noise_scale(
    loss_fn: Callable, params: Params, data, b_small: int, b_big: int, draws: int, key
) -> NoiseScale:
    """:func:`two_batch_noise_scale` from ``draws`` minibatches of each size (with replacement).

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled).
      data: ``(x [n, ...], y [n, ...])`` (leaves with a leading sample axis n).
      b_small, b_big: the two batch sizes b < B;  draws: minibatches of each;  key: PRNG key.
    Returns:
      :class:`NoiseScale`.
    """
    k1, k2 = jax.random.split(key)
    sq_s = batch_gradient_sq_norms(loss_fn, params, data, b_small, draws, k1).mean()
    sq_b = batch_gradient_sq_norms(loss_fn, params, data, b_big, draws, k2).mean()
    return two_batch_noise_scale(sq_s, sq_b, b_small, b_big)


def steps_epochs_fit(batch_sizes, steps):
    """Fit of McCandlish et al.'s trade-off S = S_min (1 + B_crit / B) (i.e.
    (S / S_min - 1)(E / E_min - 1) = 1 with E = B S, E_min = S_min B_crit) to steps-to-target
    ``steps [K]`` at ``batch_sizes [K]``, by least squares of S against 1 / B.
    Returns (S_min, E_min, B_crit = E_min / S_min)."""
    b, s = np.asarray(batch_sizes, float), np.asarray(steps, float)
    ok = np.isfinite(s)
    slope, intercept = np.polyfit(1.0 / b[ok], s[ok], 1)
    return float(intercept), float(slope), float(slope / intercept)


def steps_to_target(steps, loss, target):
    """First step at which the recorded ``loss [..., R]`` (at ``steps [R]``) falls to ``target``,
    interpolated linearly in log loss between the two records around the crossing; NaN where it
    never does. Returns [...]."""
    steps = jnp.asarray(steps, jnp.result_type(float))
    loss = jnp.asarray(loss)
    below = jnp.isfinite(loss) & (loss <= target)
    i = jnp.argmax(below, -1)
    prev = jnp.maximum(i - 1, 0)
    la = jnp.log(jnp.take_along_axis(loss, prev[..., None], -1)[..., 0])
    lb = jnp.log(jnp.take_along_axis(loss, i[..., None], -1)[..., 0])
    frac = jnp.where(lb < la, (la - jnp.log(target)) / (la - lb), 1.0)
    t = steps[prev] + jnp.clip(frac, 0.0, 1.0) * (steps[i] - steps[prev])
    return jnp.where(jnp.any(below, -1), jnp.where(i == 0, steps[0], t), jnp.nan)


# ----------------------------------------------------------------------------- along the gradient


class GradientDirection(NamedTuple):
    """loss [E] = L(w - eta g); grad_change [E] = |g(w) - g(w - eta g)|; grad_norm = |g(w)|."""

    loss: jax.Array
    grad_change: jax.Array
    grad_norm: jax.Array


def gradient_direction(loss_fn: Callable, params: Params, data, etas) -> GradientDirection:
    """Loss and gradient along the (full-``data``) gradient direction at steps ``etas [E]``.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``, a mean over the samples of ``data``.
      params: the point (pytree, P entries raveled).
      data: ``(x [n, ...], y [n, ...])`` (leaves with a leading sample axis n).
      etas: [E] step sizes.
    Returns:
      :class:`GradientDirection` (loss [E], grad_change [E], grad_norm).
    """
    theta, unravel = ravel_pytree(params)
    grad = lambda t: ravel_pytree(jax.grad(loss_fn)(unravel(t), data))[0]
    g = grad(theta)

    def at(eta):
        t = theta - eta * g
        return loss_fn(unravel(t), data), jnp.linalg.norm(g - grad(t))

    loss, change = jax.vmap(at)(jnp.asarray(etas, theta.dtype))
    return GradientDirection(loss, change, jnp.linalg.norm(g))


def loss_variation(direction: GradientDirection) -> jax.Array:
    """max - min of L(w - eta g) over the step grid (Santurkar et al.'s loss variation).
    ``direction``: from :func:`gradient_direction`; a scalar ([...] for batched directions)."""
    return jnp.max(direction.loss, -1) - jnp.min(direction.loss, -1)


def gradient_predictiveness(direction: GradientDirection) -> jax.Array:
    """max over the step grid of |g(w) - g(w - eta g)| (lower: more predictive gradients).
    ``direction``: from :func:`gradient_direction`; a scalar ([...] for batched directions)."""
    return jnp.max(direction.grad_change, -1)


def effective_smoothness(direction: GradientDirection, etas) -> jax.Array:
    """max over the step grid of |g(w) - g(w - eta g)| / (eta |g|) (effective beta-smoothness).
    ``direction``: from :func:`gradient_direction` at the steps ``etas`` [E]; a scalar."""
    return jnp.max(direction.grad_change / (jnp.asarray(etas) * direction.grad_norm[..., None]), -1)


# ----------------------------------------------------------------------------- spectral filters


def early_stopping_filter(s, lr, t):
    """phi_GD(s) = 1 - (1 - lr s)^t: GD from zero for t steps on least squares (``s``: eigenvalues
    of X^T X / n, any shape; the result has the shape of ``s``)."""
    return 1.0 - (1.0 - jnp.asarray(lr) * jnp.asarray(s)) ** jnp.asarray(t)


def ridge_filter(s, lam):
    """phi_ridge(s) = s / (s + lambda), ``lam`` = lambda, elementwise in the eigenvalues ``s``."""
    s = jnp.asarray(s)
    return s / (s + lam)


class LeastSquares(NamedTuple):
    """s [d] eigenvalues of H = X^T X / n (ascending), v [d, d] eigenvectors (columns),
    c [d] OLS coefficients v_k.b / s_k with b = X^T y / n."""

    s: jax.Array
    v: jax.Array
    c: jax.Array


def least_squares_spectrum(x: jax.Array, y: jax.Array) -> LeastSquares:
    """Spectrum of L(w) = |X w - y|^2 / (2n); x [n, d] of rank d, y [n]."""
    n = x.shape[0]
    s, v = jnp.linalg.eigh(x.T @ x / n)
    return LeastSquares(s, v, (v.T @ (x.T @ y / n)) / s)


def spectral_solution(ls: LeastSquares, phi) -> jax.Array:
    """w = sum_k phi_k c_k v_k for filter values ``phi [d]`` (phi = 1: OLS) -> [d]."""
    return ls.v @ (phi * ls.c)


def measured_filter(ls: LeastSquares, w) -> jax.Array:
    """phi_k = (v_k . w) / c_k: the filter a solution ``w [d]`` applies to each eigendirection."""
    return (ls.v.T @ w) / ls.c


def matched_ridge(lr, t):
    """lambda = 1 / (lr t): the ridge penalty whose filter matches GD stopped at step t."""
    return 1.0 / (jnp.asarray(lr) * jnp.asarray(t))


# ----------------------------------------------------------------------------- quadratics


def gd_rate(kappa):
    """(kappa - 1) / (kappa + 1): GD's contraction per step with step 2 / (L + mu)."""
    kappa = jnp.asarray(kappa)
    return (kappa - 1) / (kappa + 1)


def heavy_ball_rate(kappa):
    """(sqrt kappa - 1) / (sqrt kappa + 1): heavy ball's contraction with Polyak's tuning."""
    r = jnp.sqrt(jnp.asarray(kappa))
    return (r - 1) / (r + 1)


def gd_optimal_lr(mu, L):
    """2 / (L + mu): GD's optimal step for a quadratic with Hessian eigenvalues in [mu, L]."""
    return 2.0 / (L + mu)


def heavy_ball_tuning(mu, L):
    """(lr, momentum) = (4 / (sqrt L + sqrt mu)^2, ((sqrt L - sqrt mu) / (sqrt L + sqrt mu))^2);
    for ``optax.sgd(lr, momentum=momentum)``, which is x_{t+1} = x_t - lr g_t + momentum (x_t - x_{t-1})."""
    a, b = jnp.sqrt(L), jnp.sqrt(mu)
    return 4.0 / (a + b) ** 2, ((a - b) / (a + b)) ** 2


def quadratic_spectrum(kappa, d: int, mu: float = 1.0):
    """Eigenvalues [d] geometrically spaced in [mu, kappa mu] (both ends included)."""
    return mu * jnp.asarray(kappa) ** jnp.linspace(0.0, 1.0, d)


def contraction_rate(steps, dist, floor: float = 1e-25, jordan: bool = False):
    """Measured geometric rate r of |x_t| ~ C t^p r^t: exp of the least-squares slope of
    log dist_t over t on the records with dist_t > floor * dist_0 (finite) in the second half of
    that range; ``jordan`` also fits the polynomial factor p (repeated roots of heavy ball's
    optimal tuning give |x_t| ~ t r^t). steps [T], dist [..., T] -> [...]."""
    steps = jnp.asarray(steps, jnp.result_type(float))
    dist = jnp.asarray(dist)
    logd = jnp.log(jnp.where(dist > 0, dist, 1.0))
    valid = jnp.isfinite(logd) & (dist > floor * dist[..., :1]) & (dist > 0)
    last = jnp.max(jnp.where(valid, steps, 0.0), -1, keepdims=True)
    w = (valid & (steps >= 0.5 * last)).astype(steps.dtype)
    cols = [jnp.ones_like(steps), steps] + ([jnp.log1p(steps)] if jordan else [])
    a = jnp.stack(cols, -1)  # [T, k]

    def fit(wi, yi):
        aw = a * wi[:, None]
        coef = jnp.linalg.lstsq(aw.T @ a, aw.T @ jnp.where(wi > 0, yi, 0.0))[0]
        return coef[1]

    flat_w, flat_y = w.reshape(-1, w.shape[-1]), logd.reshape(-1, logd.shape[-1])
    slopes = jax.vmap(fit)(flat_w, flat_y).reshape(w.shape[:-1])
    return jnp.exp(slopes)
