"""Critical embeddings: the embedding principle of the loss landscape (spec 02, book ch. 9).

The loss landscape of a wide network contains every critical point of a narrower one of the
same depth. The one-step splitting embedding maps hidden neuron j (input weights w_j, output
weights a_j) of one hidden layer to two neurons

    (w_j, alpha a_j)   and   (w_j, (1 - alpha) a_j)          alpha any real

(the copy is appended as the layer's last neuron). It keeps the output function exactly
(sigma(w_j.x)(alpha + 1 - alpha) a_j = sigma(w_j.x) a_j), maps critical points to critical
points (the gradient w.r.t. the copies' input weights is alpha g_j and (1-alpha) g_j, w.r.t.
their output weights the old one), and the Hessian's zero / positive / negative eigenvalue
counts do not decrease (Zhang et al. 2021b). Multi-step embeddings compose one-step ones;
the equal k-way split gives each of k copies the output weights a_j / k.

Params: a two-layer dict ``{"a": [m] or [m, C], "w": [m, d], "b": [m]}``
(:mod:`phasekit.models.two_layer`) or an MLP list of ``{"w": [in, out], "b": [out]}``
(:mod:`phasekit.models.mlp`, not residual: the residual sum needs equal widths).
``layer`` indexes the hidden layers from 0 (a two-layer net has only layer 0).

The null embedding (:func:`null_embedding`) appends neurons with zero weights; with
sigma(0) = 0 they never move under training. :func:`find_critical_point` (descent + Newton)
gives the critical points to embed, :func:`embedding_measures` their Hessian counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from phasekit.theory.hessian import eigen_counts, hessian
from phasekit.typing import Data, LossFn

__all__ = [
    "EmbeddingReport",
    "Measures",
    "PlateauPoint",
    "criticality",
    "embed_to_width",
    "embedding_measures",
    "embedding_report",
    "equal_split",
    "find_critical_point",
    "find_plateau_saddle",
    "hidden_width",
    "keep_first_neurons",
    "null_embedding",
    "refine_critical_point",
    "split_neuron",
]


def _is_two_layer(params) -> bool:
    return isinstance(params, dict) and "a" in params and "w" in params


def hidden_width(params, layer: int = 0) -> int:
    """Number of neurons of hidden ``layer`` of ``params`` (a two-layer dict or an MLP list, see
    the module docstring)."""
    _check_layer(params, layer)
    if _is_two_layer(params):
        return params["w"].shape[0]
    return params[layer]["w"].shape[1]


def _check_layer(params, layer):
    n_hidden = 1 if _is_two_layer(params) else len(params) - 1
    if (
        isinstance(layer, bool)
        or not isinstance(layer, (int, np.integer))
        or not 0 <= layer < n_hidden
    ):
        raise ValueError(f"layer: hidden layer index in [0, {n_hidden - 1}], got {layer!r}")


def _check_index(params, layer, index):
    m = hidden_width(params, layer)
    if isinstance(index, (int, np.integer)) and not 0 <= index < m:
        raise ValueError(f"index: neuron index in [0, {m - 1}], got {index}")


def split_neuron(params, layer: int, index, alpha=0.5):
    """One-step splitting embedding: width m -> m + 1 with the same output function.

    Neuron ``index`` of hidden ``layer`` keeps its input weights and bias and gets output
    weights ``alpha * a``; a copy with output weights ``(1 - alpha) * a`` is appended at
    position m. ``index`` and ``alpha`` may be traced (jit/vmap over alpha).

    Args:
      params: a two-layer dict or an MLP list (module docstring), hidden ``layer`` of width m.
      layer, index: the neuron to split;  alpha: the split ratio.
    Returns:
      Params of the same kind with width m + 1 at ``layer``.
    """
    _check_layer(params, layer)
    _check_index(params, layer, index)
    if _is_two_layer(params):
        out = {k: jnp.concatenate([v, v[index][None]]) for k, v in params.items()}
        a = params["a"][index]
        out["a"] = out["a"].at[index].set(alpha * a).at[-1].set((1 - alpha) * a)
        return out
    inc, nxt = params[layer], params[layer + 1]
    new_in = {"w": jnp.concatenate([inc["w"], inc["w"][:, index][:, None]], axis=1)}
    if "b" in inc:
        new_in["b"] = jnp.concatenate([inc["b"], inc["b"][index][None]])
    row = nxt["w"][index]
    w_next = (
        jnp.concatenate([nxt["w"], row[None]])
        .at[index]
        .set(alpha * row)
        .at[-1]
        .set((1 - alpha) * row)
    )
    return [*params[:layer], new_in, {**nxt, "w": w_next}, *params[layer + 2 :]]


def equal_split(params, layer: int, index: int, k: int):
    """k-way equal split: neuron ``index`` -> k copies, each with output weights a / k.

    The copies are the original (position ``index``) and k - 1 appended neurons. Equivalent to
    k - 1 one-step splits with alpha = 1/(k-i) applied to the last copy.

    ``params`` as :func:`split_neuron`; returns params with width m + k - 1 at ``layer``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: number of copies must be a positive integer, got {k!r}")
    _check_index(params, layer, index)
    out, j = params, index
    for i in range(k - 1):
        # keep 1/(k - i) of what is left on neuron j, pass the rest to the new copy
        out = split_neuron(out, layer, j, 1.0 / (k - i))
        j = hidden_width(out, layer) - 1
    return out


def embed_to_width(
    params, width: int, layer: int = 0, indices: Sequence[int] | None = None, alphas=0.5
):
    """Multi-step splitting embedding of hidden ``layer`` to ``width`` neurons.

    Args:
      params: a two-layer dict or an MLP list (module docstring).
      width: target width (>= current width).
      layer: the hidden layer to widen.
      indices: which neuron each step splits (default: 0, 1, 2, ... cycling over the
        original neurons).
      alphas: the split ratio of each step (scalar or one per step).
    Returns:
      Params of the same kind with ``width`` neurons at ``layer`` (same output function).
    """
    m = hidden_width(params, layer)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < m:
        raise ValueError(f"width: target width must be an integer >= {m}, got {width!r}")
    n_steps = width - m
    indices = [i % m for i in range(n_steps)] if indices is None else list(indices)
    alphas = (
        np.broadcast_to(np.asarray(alphas, float), (n_steps,))
        if np.ndim(alphas) == 0
        else list(alphas)
    )
    if len(indices) != n_steps or len(alphas) != n_steps:
        raise ValueError(
            f"indices/alphas: need {n_steps} values each, got {len(indices)}, {len(alphas)}"
        )
    for j, alpha in zip(indices, alphas):
        params = split_neuron(params, layer, j, alpha)
    return params


def criticality(loss_fn: LossFn, params, data: Data = None, *, ord=2) -> jax.Array:
    """|grad L(theta)|_ord on the raveled parameters (0 at a critical point).

    ``loss_fn(params, data) -> scalar``; ``ord``: 1, 2 or jnp.inf.
    """
    g, _ = ravel_pytree(jax.grad(loss_fn)(params, data))
    return jnp.linalg.norm(g, ord=ord)


def null_embedding(params, width: int):
    """Two-layer net -> width ``width`` by appending null neurons (zero input weights, bias
    and output weights). The output is unchanged; for an activation with sigma(0) = 0 (ReLU,
    tanh) a null neuron's gradient is zero too (d/da_k = sigma(0) = 0, d/dw_k = a_k (...) = 0),
    so gradient training never moves it: the wide net trains exactly as the narrow one.
    ``params``: ``{"a", "w", "b"}`` of :mod:`phasekit.models.two_layer`; returns the same keys at
    width ``width``."""
    if not _is_two_layer(params):
        raise ValueError("params: null_embedding takes two-layer params {'a', 'w'[, 'b']}")
    m = hidden_width(params)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < m:
        raise ValueError(f"width: target width must be an integer >= {m}, got {width!r}")
    return {
        k: jnp.concatenate([v, jnp.zeros((width - m,) + v.shape[1:], v.dtype)])
        for k, v in params.items()
    }


def keep_first_neurons(params, m):
    """Zero every neuron of a two-layer net but the first ``m`` (m may be traced): the null
    embedding (:func:`null_embedding`) of the width-m net made of those neurons into the
    full width. One compiled program then trains nets of every width up to the full one.
    ``params``: ``{"a", "w", "b"}`` of :mod:`phasekit.models.two_layer`; returns the same shapes."""
    if not _is_two_layer(params):
        raise ValueError("params: keep_first_neurons takes two-layer params {'a', 'w'[, 'b']}")
    keep = jnp.arange(hidden_width(params)) < m
    return {
        k: jnp.where(keep.reshape((-1,) + (1,) * (v.ndim - 1)), v, 0) for k, v in params.items()
    }


def embedding_measures(loss_fn: LossFn, params, data: Data = None, *, tol: float = 1e-10) -> dict:
    """Loss, gradient norms and Hessian eigenvalue counts at one point (jit/vmap friendly).

    Returns a dict of arrays (the form :func:`phasekit.dynamics.sweep.run` stores): ``loss``,
    ``grad_l1``, ``grad_l2``, ``n_negative``, ``n_zero``, ``n_positive`` (eigenvalues with
    |lambda| <= tol are zero) and ``eigenvalues`` [M] ascending. Use float64
    (``jax.enable_x64``): the counts near zero and the gradient norms of a critical point
    (~1e-13) need it. ``loss_fn(params, data) -> scalar`` at the point ``params``.
    """
    eig = jnp.linalg.eigvalsh(hessian(loss_fn, params, data))
    g, _ = ravel_pytree(jax.grad(loss_fn)(params, data))
    neg, zero, pos = eigen_counts(eig, tol)
    return {
        "loss": loss_fn(params, data),
        "grad_l1": jnp.sum(jnp.abs(g)),
        "grad_l2": jnp.linalg.norm(g),
        "n_negative": neg,
        "n_zero": zero,
        "n_positive": pos,
        "eigenvalues": eig,
    }


class Measures(NamedTuple):
    """:func:`embedding_measures` at one point as Python numbers.

    Fields: ``loss`` L; ``grad_l1``, ``grad_l2`` |grad L|_1 and |grad L|_2; ``n_negative``,
    ``n_zero``, ``n_positive`` the Hessian's eigenvalue counts (|lambda| <= tol is zero);
    ``eigenvalues`` numpy [M], ascending.
    """

    loss: float
    grad_l1: float
    grad_l2: float
    n_negative: int
    n_zero: int
    n_positive: int
    eigenvalues: np.ndarray


class EmbeddingReport(NamedTuple):
    """:class:`Measures` of a critical point (``narrow``) and of its embedding (``wide``)."""

    narrow: Measures
    wide: Measures


def embedding_report(
    loss_fn: LossFn, narrow, wide, data: Data = None, *, tol: float = 1e-10
) -> EmbeddingReport:
    """:func:`embedding_measures` of a point and of its embedding, as Python numbers.

    Host-only (returns Python numbers): not for ``jit`` / ``vmap``.

    Args:
      loss_fn, data: ``loss_fn(params, data) -> scalar`` (the same loss for both widths).
      narrow: a critical point;  wide: its embedding.
      tol: the zero band of the eigenvalue counts.
    Returns:
      :class:`EmbeddingReport` (narrow, wide :class:`Measures`).
    """
    measures = jax.jit(lambda p, d: embedding_measures(loss_fn, p, d, tol=tol))

    def one(p) -> Measures:
        r = measures(p, data)
        fields: dict[str, Any] = {
            k: (np.asarray(v) if k == "eigenvalues" else int(v) if k.startswith("n_") else float(v))
            for k, v in r.items()
        }
        return Measures(**fields)

    return EmbeddingReport(one(narrow), one(wide))


def refine_critical_point(
    loss_fn: LossFn, params, data: Data = None, *, steps: int = 20, line_search: int = 0
):
    """Polish an approximate critical point by Newton steps theta <- theta - t H^+ grad L.

    The pseudo-inverse (least squares) step converges quadratically to the nearby critical
    point whatever its index; the iterate of smallest |grad L|_2 is returned (so a start far
    from any critical point comes back unchanged rather than thrown away: train first).
    One ``lax.scan`` (jit/vmap friendly). Run under ``jax.enable_x64(True)`` to reach
    |grad|_1 ~ 1e-13 (book Fig 9.7). Small models only (dense Hessian).

    ``line_search`` = K > 0 damps the step for a start that is not yet close (e.g. a point on a
    loss plateau, near a saddle): t is the largest of 1, 1/2, ..., 2^-(K-1) that lowers
    |grad L|_2 (Newton's method for grad L = 0 with backtracking on |grad L|), so the iterate
    stays at the critical point the start is near instead of jumping across the landscape;
    the full step returns where the quadratic model holds. K = 0: full steps (t = 1).

    Args:
      loss_fn, data: ``loss_fn(params, data) -> scalar``;  params: the start;  steps: Newton
        steps;  line_search: K, the number of step lengths tried (0: none).
    Returns:
      Params like ``params`` (the best iterate).
    """
    if isinstance(line_search, bool) or not isinstance(line_search, (int, np.integer)):
        raise ValueError(f"line_search: a number of step lengths >= 0, got {line_search!r}")
    if line_search < 0:
        raise ValueError(f"line_search: a number of step lengths >= 0, got {line_search}")
    theta, unravel = ravel_pytree(params)
    flat = lambda t: loss_fn(unravel(t), data)
    grad = jax.grad(flat)
    lengths = 0.5 ** jnp.arange(max(int(line_search), 1), dtype=theta.dtype)

    def step(carry, _):
        t, best, g_best = carry
        d = jnp.linalg.lstsq(jax.hessian(flat)(t), grad(t))[0]
        if line_search:
            cand = t[None] - lengths[:, None] * d[None]
            g_cand = jax.vmap(lambda c: jnp.linalg.norm(grad(c)))(cand)
            lower = jnp.isfinite(g_cand) & (g_cand < jnp.linalg.norm(grad(t)))
            # the longest step that lowers |grad L|; none does: the shortest one
            t = cand[jnp.where(jnp.any(lower), jnp.argmax(lower), lengths.size - 1)]
        else:
            t = t - d
        g = jnp.linalg.norm(grad(t))
        better = jnp.isfinite(g) & (g < g_best)
        # a non-finite iterate is not continued from: restart from the best one
        t = jnp.where(jnp.all(jnp.isfinite(t)), t, best)
        return (t, jnp.where(better, t, best), jnp.where(better, g, g_best)), None

    g0 = jnp.linalg.norm(grad(theta))
    (_, best, _), _ = jax.lax.scan(
        step, (theta, theta, jnp.where(jnp.isfinite(g0), g0, jnp.inf)), None, length=steps
    )
    return unravel(best)


def find_critical_point(
    loss_fn: LossFn,
    params,
    data: Data = None,
    *,
    descent_steps: int = 5000,
    lr: float = 0.01,
    newton_steps: int = 30,
):
    """A critical point near the end of a descent from ``params``: ``descent_steps`` Adam
    steps (to the basin of a minimum or a long-lived saddle), then
    :func:`refine_critical_point` (Newton, to |grad L| at rounding level). One traced program
    (jit/vmap over initializations). The book's width-2 critical points (Fig 9.7) are found
    this way from a moderate init. Use float64.

    Args:
      loss_fn, data: ``loss_fn(params, data) -> scalar``;  params: the initialization.
      descent_steps, lr: the Adam descent;  newton_steps: then :func:`refine_critical_point`.
    Returns:
      Params like ``params``.
    """
    opt = optax.adam(lr)

    def body(_, carry):
        p, state = carry
        updates, state = opt.update(jax.grad(loss_fn)(p, data), state, p)
        return optax.apply_updates(p, updates), state

    p, _ = jax.lax.fori_loop(0, descent_steps, body, (params, opt.init(params)))
    return refine_critical_point(loss_fn, p, data, steps=newton_steps)


class PlateauPoint(NamedTuple):
    """Where :func:`find_plateau_saddle` stopped the descent.

    Fields: ``params`` (the polished critical point, like the initial params), ``step`` the
    descent step it started from (int array), ``loss_plateau`` and ``grad_plateau`` the loss and
    |grad L|_2 at that step.
    """

    params: Any
    step: jax.Array
    loss_plateau: jax.Array
    grad_plateau: jax.Array


def find_plateau_saddle(
    loss_fn: LossFn,
    params,
    data: Data = None,
    *,
    steps: int = 4000,
    lr: float = 0.05,
    drop: float = 0.05,
    newton_steps: int = 60,
    line_search: int = 12,
) -> PlateauPoint:
    """A saddle visited by gradient descent from a small init: the critical point at a loss
    plateau past the initial one, polished by damped Newton.

    Runs ``steps`` full-batch GD steps theta <- theta - lr grad L from ``params`` (every
    iterate kept: small models only), takes the step s* of smallest |grad L|_2 among those with
    (1 + drop) L_end < L < (1 - drop) L_0 (past the initial plateau at the small-init saddle,
    before the final approach to the basin the descent ends in; the closest the trajectory
    comes to a later saddle), then :func:`refine_critical_point` with ``line_search`` from
    there. No step in the window (no later plateau): s* = the last step. One traced program
    (jit/vmap over initializations). Use float64.

    Args:
      loss_fn, data: ``loss_fn(params, data) -> scalar``;  params: the (small) initialization.
      steps, lr: the GD descent;  drop: the window's margins (relative loss);
      newton_steps, line_search: the polish (:func:`refine_critical_point`).
    Returns:
      :class:`PlateauPoint` (params of the critical point, s*, L and |grad L|_2 at s*).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: a positive number of GD steps, got {steps!r}")
    if not 0 < drop < 1:
        raise ValueError(f"drop: in (0, 1), got {drop!r}")
    theta, unravel = ravel_pytree(params)
    flat = lambda t: loss_fn(unravel(t), data)
    value_grad = jax.value_and_grad(flat)

    def step(t, _):
        l, g = value_grad(t)
        return t - lr * g, (t, l, jnp.linalg.norm(g))

    _, (ts, ls, gs) = jax.lax.scan(step, theta, None, length=int(steps))
    inside = (ls < (1 - drop) * ls[0]) & (ls > (1 + drop) * ls[-1])
    s = jnp.where(jnp.any(inside), jnp.argmin(jnp.where(inside, gs, jnp.inf)), ls.size - 1)
    found = refine_critical_point(
        loss_fn, unravel(ts[s]), data, steps=newton_steps, line_search=line_search
    )
    return PlateauPoint(found, s, ls[s], gs[s])
