"""Mode connectivity (book ch. 14): loss along paths between two solutions theta_a, theta_b.

    linear path     w(t) = (1 - t) theta_a + t theta_b,                      t in [0, 1]
    barrier         B = max_t L(w(t)) - (L(theta_a) + L(theta_b)) / 2
    Bezier curve    phi(t) = (1 - t)^2 theta_a + 2 t (1 - t) theta_c + t^2 theta_b
                    theta_c trained by minimizing E_{t ~ U[0,1]} L(phi(t))   (Garipov et al. 2018)

Weight matching (Ainsworth, Hayase & Srinivasa 2023) for an MLP of
:mod:`phasekit.models.mlp` (params ``[{"w": [fan_in, fan_out], "b": [fan_out]}, ...]``): hidden
units of each layer of theta_b are permuted (the function is unchanged) to maximize
sum_l <W_l^a, P_{l-1}^T W_l^b P_l>_F + <b_l^a, P_l^T b_l^b>; one layer at a time with the others
fixed, this is a linear assignment (``scipy.optimize.linear_sum_assignment``) on
S_l[i, j] = <W_l^a[:, i], (P_{l-1}^T W_l^b)[:, j]> + b_l^a[i] b_l^b[j]
            + <W_{l+1}^a[i, :], (W_{l+1}^b P_{l+1})[j, :]>,
swept over the layers until no permutation changes. A permutation ``p`` of a layer means
"unit i of the aligned net is unit p[i] of theta_b".

Losses follow the project convention ``loss(params, data) -> scalar``. The path and curve
functions are jnp (jit / vmap); :func:`weight_matching` runs on the host (scipy), and
:func:`align` wraps it in ``jax.pure_callback`` so it can sit inside a jitted, vmapped sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "PathLoss",
    "align",
    "barrier",
    "bezier",
    "bezier_barrier",
    "bezier_init",
    "bezier_objective",
    "interpolate",
    "linear_barrier",
    "path_losses",
    "permute_mlp",
    "weight_matching",
]

tree_map = jax.tree_util.tree_map


def interpolate(a, b, t):
    """(1 - t) a + t b, leaf by leaf (a, b: pytrees of one structure; t scalar).

    Evaluated as a + t (b - a) for t < 1/2 and b - (1 - t) (b - a) above, so the path is exactly
    a at t = 0, exactly b at t = 1 and exactly a everywhere when b = a, whatever the floating
    point unit fuses (an FMA moves (1 - t) a + t a off a by an ulp on some CPUs).

    Returns:
      A pytree like ``a``.
    """

    def lerp(x, y):
        d = y - x
        return jnp.where(t < 0.5, x + t * d, y - (1 - t) * d)

    return tree_map(lerp, a, b)


def bezier(a, c, b, t):
    """Quadratic Bezier point phi(t) = (1 - t)^2 a + 2 t (1 - t) c + t^2 b (phi(0) = a, phi(1) = b).

    Args:
      a, b: the end points;  c: the control point (pytrees of one structure);  t: a scalar.
    Returns:
      A pytree like ``a``.
    """
    return tree_map(lambda x, z, y: (1 - t) ** 2 * x + 2 * t * (1 - t) * z + t**2 * y, a, c, b)


def path_losses(loss_fn: Callable, path: Callable, data, ts) -> jax.Array:
    """L(path(t)) for each t in ``ts`` [T] -> [T] (vmapped over t).

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``;  path: ``t -> params``;  data: the loss's
        data pytree;  ts: [T].
    Returns:
      [T].
    """
    return jax.vmap(lambda t: loss_fn(path(t), data))(jnp.asarray(ts))


def barrier(losses) -> jax.Array:
    """B = max_t L(t) - (L(0) + L(1)) / 2 of losses [T] on a grid with ts[0] = 0, ts[-1] = 1."""
    return jnp.max(losses) - 0.5 * (losses[0] + losses[-1])


class PathLoss(NamedTuple):
    """ts: [T] grid on [0, 1]; losses: [T] L along the path; barrier: scalar B; max_loss: max_t L."""

    ts: jax.Array
    losses: jax.Array
    barrier: jax.Array
    max_loss: jax.Array


def _summary(ts, losses) -> PathLoss:
    return PathLoss(ts, losses, barrier(losses), jnp.max(losses))


def linear_barrier(loss_fn: Callable, a, b, data, n_points: int = 25) -> PathLoss:
    """Loss along the linear path w(t) on ``n_points`` equally spaced t in [0, 1] and its barrier.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``;  a, b: the two solutions (pytrees of one
        structure);  data: the loss's data;  n_points: T.
    Returns:
      :class:`PathLoss` (ts [T], losses [T], barrier, max_loss).
    """
    ts = jnp.linspace(0.0, 1.0, n_points)
    return _summary(ts, path_losses(loss_fn, lambda t: interpolate(a, b, t), data, ts))


def bezier_barrier(loss_fn: Callable, a, c, b, data, n_points: int = 25) -> PathLoss:
    """Loss along the Bezier curve phi(t) with control point ``c`` and its barrier.

    Args:
      loss_fn, a, b, data, n_points: as :func:`linear_barrier`;  c: the control point.
    Returns:
      :class:`PathLoss` (ts [T], losses [T], barrier, max_loss).
    """
    ts = jnp.linspace(0.0, 1.0, n_points)
    return _summary(ts, path_losses(loss_fn, lambda t: bezier(a, c, b, t), data, ts))


def bezier_init(a, b):
    """The control point of the straight line, (a + b) / 2 (then phi(t) = w(t)); a pytree like
    ``a``."""
    return interpolate(a, b, 0.5)


def bezier_objective(loss_fn: Callable, a, b, n_samples: int = 1) -> Callable:
    """The curve-training loss ``(c, data, key) -> (1/S) sum_s L(phi(t_s); data)``, t_s ~ U[0, 1]
    i.i.d. (an unbiased estimate of E_t L(phi(t))): train ``c`` with
    ``train.run(objective, bezier_init(a, b), data, opt, loss_takes_key=True, key=...)``.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar``;  a, b: the fixed end points;  n_samples: S.
    Returns:
      ``objective(c, data, key) -> scalar``.
    """

    def objective(c, data, key):
        ts = jax.random.uniform(key, (n_samples,))
        return jnp.mean(path_losses(loss_fn, lambda t: bezier(a, c, b, t), data, ts))

    return objective


# ----------------------------------------------------------------------------- weight matching


def permute_mlp(params: list[dict], perms) -> list[dict]:
    """Permute the hidden units of an MLP: layer l's outputs by perms[l] (l = 0..L-2), its inputs
    by perms[l-1]; the function is unchanged. perms: L-1 index arrays (numpy or jnp).

    Args:
      params: ``[{"w": [d_l, d_{l+1}], "b": [d_{l+1}]}, ...]`` (:mod:`phasekit.models.mlp`).
      perms: L-1 permutations, perms[l] of length d_{l+1}.
    Returns:
      The permuted parameters, same structure.
    """
    if len(perms) != len(params) - 1:
        raise ValueError(f"perms: need {len(params) - 1} permutations, got {len(perms)}")
    out = []
    for l, layer in enumerate(params):
        new = dict(layer)
        w = layer["w"]
        if l > 0:
            w = w[jnp.asarray(perms[l - 1])]
        if l < len(params) - 1:
            w = w[:, jnp.asarray(perms[l])]
            if "b" in layer:
                new["b"] = layer["b"][jnp.asarray(perms[l])]
        new["w"] = w
        out.append(new)
    return out


def _check_mlp(params, name):
    if not isinstance(params, (list, tuple)) or not all(
        isinstance(p, dict) and "w" in p for p in params
    ):
        raise ValueError(f"{name}: weight matching needs mlp params [{{'w': .., 'b': ..}}, ...]")


def weight_matching(a: list[dict], b: list[dict], max_sweeps: int = 100) -> list[np.ndarray]:
    """Permutations of theta_b's hidden units that align it to theta_a (module docstring).

    Host-side (numpy + scipy); starts from the identity and sweeps the layers in order until
    a sweep changes nothing or ``max_sweeps`` is reached. Returns L-1 int arrays p_l, to use
    as ``permute_mlp(b, perms)``."""
    _check_mlp(a, "a")
    _check_mlp(b, "b")
    a = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in a]
    b = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in b]
    n_hidden = len(a) - 1
    perms = [np.arange(a[l]["w"].shape[1]) for l in range(n_hidden)]
    for _ in range(max_sweeps):
        changed = False
        for l in range(n_hidden):
            wb = b[l]["w"] if l == 0 else b[l]["w"][perms[l - 1]]
            s = a[l]["w"].T @ wb
            if "b" in a[l]:
                s += np.outer(a[l]["b"], b[l]["b"])
            nxt = b[l + 1]["w"] if l + 1 == n_hidden else b[l + 1]["w"][:, perms[l + 1]]
            s += a[l + 1]["w"] @ nxt.T
            _, cols = linear_sum_assignment(s, maximize=True)
            if not np.array_equal(cols, perms[l]):
                changed = True
                perms[l] = cols
        if not changed:
            break
    return [p.astype(np.int32) for p in perms]


def align(a: list[dict], b: list[dict]) -> list[dict]:
    """theta_b with its hidden units permuted by :func:`weight_matching` to match theta_a;
    traceable (a ``jax.pure_callback`` to the host, sequential under vmap).

    Args:
      a: the reference MLP;  b: the MLP to permute (same sizes, :mod:`phasekit.models.mlp`).
    Returns:
      ``permute_mlp(b, weight_matching(a, b))``, a function-preserving copy of theta_b.
    """
    shapes = [jax.ShapeDtypeStruct((layer["w"].shape[1],), jnp.int32) for layer in a[:-1]]
    perms = jax.pure_callback(
        lambda x, y: weight_matching(x, y), shapes, a, b, vmap_method="sequential"
    )
    return permute_mlp(b, perms)
