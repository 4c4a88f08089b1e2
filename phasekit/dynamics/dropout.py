"""Dropout with keep probability p and its explicit regularizer (spec 02, book ch. 8.4, 11.4).

Dropout multiplies a layer's output h_j by (1 + eta_j), with i.i.d. mean-zero

    eta_j = (1 - p) / p   with probability p,      eta_j = -1   with probability 1 - p,

i.e. h_j / p or 0; Var(eta_j) = (1 - p) / p. Masks are drawn independently per sample and
per neuron. With dropout only after the last hidden layer and the MSE loss
R_S = 1/(2n) sum_i |f(x_i) - y_i|^2, the mask average of the loss is exactly

    E_eta R_S^drop = R_S + R_1,
    R_1(theta) = (1 - p) / (2 n p) * sum_i sum_j sum_k ( W^[L]_{k,j} h_j^[L-1](x_i) )^2,

an L2 penalty on each neuron's output contribution (Zhang & Xu 2022); its minimizers make the
contributions parallel, i.e. condensation.

Training: ``mse(apply_fn, p)`` is a loss ``(params, data, key)`` for
``train.run(..., key=k, loss_takes_key=True)``, which draws a fresh key per step; the run is
a pure function of (key, p, ...) and vmaps over seeds (and over p). :func:`mean_mse` is the
mask-averaged loss R_S + R_1 (dropout's explicit regularizer without its noise), and
:func:`valued_as` makes a training loss report another loss's value, so a stop rule can fire
on the clean loss while the gradient stays the dropout loss's.

Measures of the dropout experiments (book Fig 8.12 / 8.13 / 8.16): :func:`teacher`, the
6-parameter target tanh(x - 6) + tanh(x + 6); :func:`excess_variation` (how much a 1-D fit
oscillates between its data points); :func:`orientation_concentration` (how much of the
neurons' amplitude sits at a few orientations: condensation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.dynamics import train
from phasekit.dynamics.train import check_xy
from phasekit.losses import squared_error
from phasekit.models import mlp
from phasekit.models import two_layer as tl

__all__ = [
    "TEACHER_PARAMETERS",
    "excess_variation",
    "explicit_regularizer",
    "mask",
    "mean_mse",
    "mlp_apply",
    "mlp_regularizer",
    "mse",
    "orientation_concentration",
    "teacher",
    "two_layer_apply",
    "two_layer_regularizer",
    "valued_as",
]


def _check_p(p):
    """Keep probabilities (a scalar or one per layer) must lie in (0, 1]; traced p passes."""
    if isinstance(p, jax.core.Tracer) or any(
        isinstance(q, jax.core.Tracer) for q in np.ravel(np.asarray(p, object))
    ):
        return
    if not np.all((np.asarray(p, float) > 0) & (np.asarray(p, float) <= 1)):
        raise ValueError(f"p: keep probability must be in (0, 1], got {p!r}")


def mask(key, shape, p) -> jax.Array:
    """1 + eta: 1/p with probability p, 0 otherwise (mean 1). ``p`` may be traced.

    Args:
      key: PRNG key; shape: the mask's shape; p: keep probability in (0, 1].
    Returns:
      float mask of ``shape`` with values 0 or 1/p.
    """
    _check_p(p)
    return jax.random.bernoulli(key, p, shape).astype(jnp.result_type(float)) / p


def two_layer_apply(
    params: dict, x: jax.Array, key=None, p=1.0, activation="relu", alpha=1.0
) -> jax.Array:
    """f(x) = (1/alpha) sum_k a_k (1 + eta_k(x)) sigma(w_k.x + b_k).  x: [n, d] -> [n] (or [n, C]).

    :func:`phasekit.models.two_layer.apply` with a dropout mask; ``key=None`` is the
    deterministic (evaluation) network.

    Args:
      params: two-layer params ``{"a", "w", "b"}`` (:mod:`phasekit.models.two_layer`).
      x: inputs [n, d]; key: PRNG key of the masks (None: no dropout).
      p: keep probability of the hidden neurons (may be traced).
      activation, alpha: as in :func:`phasekit.models.two_layer.apply`.
    """
    m = (
        None
        if key is None
        else mask(key, (x.shape[0], params["w"].shape[0]), p).astype(params["w"].dtype)
    )
    return tl.apply(params, x, activation, alpha, mask=m)


def mlp_apply(
    params: list[dict],
    x: jax.Array,
    key=None,
    p=1.0,
    activation="relu",
    residual: bool = False,
    layer_activations: Sequence | None = None,
) -> jax.Array:
    """:func:`phasekit.models.mlp.apply` with dropout after hidden layers: ``p`` a scalar (every
    hidden layer) or one keep probability per hidden layer (1.0: no dropout there); in a residual
    net the mask acts on each block's branch before the skip sum. ``key=None``: no dropout.

    Args:
      params: :mod:`phasekit.models.mlp` parameters (a list of ``{"w", "b"}`` dicts).
      x: inputs [n, d]; key: PRNG key of the masks; p: keep probability (see above).
      activation, residual, layer_activations: as in :func:`phasekit.models.mlp.apply`.
    Returns:
      outputs [n, k] (squeezed to [n] when k = 1, as in :func:`phasekit.models.mlp.apply`).
    """
    n_hidden = len(params) - 1
    ps = list(p) if isinstance(p, (list, tuple)) or jnp.ndim(p) > 0 else [p] * n_hidden
    if len(ps) != n_hidden:
        raise ValueError(
            f"p: need one keep probability per hidden layer ({n_hidden}), got {len(ps)}"
        )
    masks = None
    if key is not None:
        keys = jax.random.split(key, n_hidden)
        masks = [
            mask(k, (x.shape[0], layer["w"].shape[1]), pl).astype(layer["w"].dtype)
            for k, layer, pl in zip(keys, params[:-1], ps)
        ]
    return mlp.apply(params, x, activation, residual, layer_activations, masks=masks)


def explicit_regularizer(h: jax.Array, w_out: jax.Array, p) -> jax.Array:
    """R_1 = (1 - p) / (2 n p) sum_i sum_j sum_k (W_{k,j} h_j(x_i))^2.

    Args:
      h: [n, m] last hidden layer outputs h^[L-1](x_i).
      w_out: [m] or [m, C] output weights (W^[L] transposed; include any 1/alpha).
      p: keep probability of the dropout after that layer.
    """
    _check_p(p)
    w = w_out if w_out.ndim == 2 else w_out[:, None]
    n = h.shape[0]
    return (1 - p) / (2 * n * p) * jnp.sum((h**2) @ (w**2))


def two_layer_regularizer(params: dict, x: jax.Array, p, activation="relu", alpha=1.0) -> jax.Array:
    """R_1 of a two-layer net (dropout on the hidden layer).

    Args:
      params: two-layer params ``{"a", "w", "b"}``; x: inputs [n, d]; p: keep probability.
      activation, alpha: as in :func:`phasekit.models.two_layer.apply` (the 1/alpha goes into
        the output weights of :func:`explicit_regularizer`).
    Returns:
      R_1, a scalar.
    """
    h = tl.hidden(params, x, activation)
    return explicit_regularizer(h, params["a"] / alpha, p)


def mlp_regularizer(
    params: list[dict],
    x: jax.Array,
    p,
    activation="relu",
    layer_activations: Sequence | None = None,
) -> jax.Array:
    """R_1 of an MLP with dropout after its last hidden layer only.

    Args:
      params: :mod:`phasekit.models.mlp` parameters; x: inputs [n, d]; p: keep probability of
        the dropout after the last hidden layer.
      activation, layer_activations: as in :func:`phasekit.models.mlp.apply`.
    Returns:
      R_1 (:func:`explicit_regularizer` on the last hidden layer's outputs), a scalar.
    """
    h = mlp.hidden(params, x, activation, layer_activations=layer_activations)[-1]
    return explicit_regularizer(h, params[-1]["w"], p)


def mse(apply_fn: Callable, p, **apply_kwargs) -> Callable:
    """Dropout loss ``(params, (x, y), key) -> 1/(2n) sum_i |f_eta(x_i) - y_i|^2``.

    ``apply_fn(params, x, key=..., p=..., **apply_kwargs)``, e.g. :func:`two_layer_apply`.
    """
    _check_p(p)

    def loss(params, data, key):
        x, y = check_xy(*data)
        f = apply_fn(params, x, key=key, p=p, **apply_kwargs)
        return squared_error(f, y)

    return loss


def mean_mse(apply_fn: Callable, regularizer: Callable, p, **apply_kwargs) -> Callable:
    """The mask average of the dropout MSE, ``(params, (x, y), key) -> R_S + R_1`` (the key is
    ignored): dropout's explicit regularizer without its noise, e.g.
    ``mean_mse(mlp.apply, mlp_regularizer, p)`` for dropout after an MLP's last hidden layer or
    ``mean_mse(two_layer.apply, two_layer_regularizer, p, activation=..., alpha=...)``.
    ``apply_fn(params, x, **apply_kwargs)`` is the deterministic net;
    ``regularizer(params, x, p, **apply_kwargs)`` is R_1. Equal to E_eta of :func:`mse`'s loss
    exactly when dropout acts on the last hidden layer only.
    """
    _check_p(p)
    clean = train.mse(apply_fn, **apply_kwargs)

    def loss(params, data, key=None):
        return clean(params, data) + regularizer(params, data[0], p, **apply_kwargs)

    return loss


def valued_as(train_loss: Callable, value_loss: Callable) -> Callable:
    """A loss whose value is ``value_loss`` and whose gradient is ``train_loss``'s:

        L(theta) = D(theta) + stop_gradient(C(theta) - D(theta)),   L = C,   grad L = grad D.

    With D the dropout loss and C the clean (no-dropout) training loss, ``train.run``'s stop
    rule (``stop_loss``) fires when the *clean* loss reaches the target, while every update is
    a dropout step: runs with different keep probabilities stop at one clean-loss level.

    Args:
      train_loss: ``(params, data, key) -> scalar`` whose gradient drives training.
      value_loss: ``(params, data) -> scalar`` whose value is reported.
    Returns:
      ``(params, data, key) -> scalar`` for ``train.run(..., loss_takes_key=True)``.
    """

    def loss(params, data, key):
        d = train_loss(params, data, key)
        return d + jax.lax.stop_gradient(value_loss(params, data) - d)

    return loss


TEACHER_PARAMETERS = 6


def teacher(x):
    """tanh(x - 6) + tanh(x + 6): a width-2 tanh network with 6 free parameters (a, w, b of two
    neurons), the target of book Fig 8.13 and 8.16. x: any shape (1-D inputs) -> same shape."""
    return jnp.tanh(x - 6.0) + jnp.tanh(x + 6.0)


def excess_variation(f, grid, x, y):
    """How much a 1-D fit oscillates between its data points:

        V = TV(f on the grid points inside [min x, max x]) / TV(data) - 1,
        TV(f) = sum_j |f(g_{j+1}) - f(g_j)|,   TV(data) = sum_i |y_(i+1) - y_(i)|  (x sorted),

    TV(data) being the variation of the piecewise-linear interpolant of the data.

    A fit that is monotone between consecutive data points has V ~ 0 (up to the grid's
    resolution); a bump of height h on a stretch where the data are flat adds 2h / TV(data).

    Args:
      f: [G] fit on ``grid``; grid: [G] increasing; x: [n] data inputs; y: [n] targets.
    """
    grid, f = jnp.reshape(grid, (-1,)), jnp.reshape(f, (-1,))
    x, y = jnp.reshape(x, (-1,)), jnp.reshape(y, (-1,))
    order = jnp.argsort(x)
    x, y = x[order], y[order]
    inside = (grid >= x[0]) & (grid <= x[-1])
    pair = inside[1:] & inside[:-1]
    tv_fit = jnp.sum(jnp.where(pair, jnp.abs(jnp.diff(f)), 0.0))
    return tv_fit / jnp.sum(jnp.abs(jnp.diff(y))) - 1.0


def orientation_concentration(omega, amplitude, bins: int = 36, top: int = 4):
    """Share of the total amplitude in the ``top`` strongest of ``bins`` equal orientation bins
    of [-pi, pi): sum of the largest ``top`` bin totals of A_k / sum_k A_k.

    Neurons spread evenly give about top / bins; condensed neurons (a few directions) give ~1.
    omega: [m] orientations Omega_k (e.g. ``condensation.orientation_amplitude``); amplitude: [m].
    """
    idx = jnp.clip(jnp.floor((omega + jnp.pi) / (2 * jnp.pi) * bins).astype(jnp.int32), 0, bins - 1)
    totals = jnp.zeros(bins, amplitude.dtype).at[idx].add(amplitude)
    return jnp.sum(jnp.sort(totals)[-top:]) / jnp.sum(totals)
