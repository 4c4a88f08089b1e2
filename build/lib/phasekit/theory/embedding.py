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
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from phasekit.theory.hessian import eigen_counts, hessian


def _is_two_layer(params) -> bool:
    return isinstance(params, dict) and "a" in params and "w" in params


def hidden_width(params, layer: int = 0) -> int:
    """Number of neurons of hidden ``layer``."""
    _check_layer(params, layer)
    if _is_two_layer(params):
        return params["w"].shape[0]
    return params[layer]["w"].shape[1]


def _check_layer(params, layer):
    n_hidden = 1 if _is_two_layer(params) else len(params) - 1
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_hidden:
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
    w_next = jnp.concatenate([nxt["w"], row[None]]).at[index].set(alpha * row).at[-1].set((1 - alpha) * row)
    return [*params[:layer], new_in, {**nxt, "w": w_next}, *params[layer + 2:]]


def equal_split(params, layer: int, index: int, k: int):
    """k-way equal split: neuron ``index`` -> k copies, each with output weights a / k.

    The copies are the original (position ``index``) and k - 1 appended neurons. Equivalent to
    k - 1 one-step splits with alpha = 1/(k-i) applied to the last copy.
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


def embed_to_width(params, width: int, layer: int = 0, indices: Sequence[int] | None = None,
                   alphas=0.5):
    """Multi-step splitting embedding of hidden ``layer`` to ``width`` neurons.

    Args:
      width: target width (>= current width).
      indices: which neuron each step splits (default: 0, 1, 2, ... cycling over the
        original neurons).
      alphas: the split ratio of each step (scalar or one per step).
    """
    m = hidden_width(params, layer)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < m:
        raise ValueError(f"width: target width must be an integer >= {m}, got {width!r}")
    n_steps = width - m
    indices = [i % m for i in range(n_steps)] if indices is None else list(indices)
    alphas = np.broadcast_to(np.asarray(alphas, float), (n_steps,)) if np.ndim(alphas) == 0 else list(alphas)
    if len(indices) != n_steps or len(alphas) != n_steps:
        raise ValueError(f"indices/alphas: need {n_steps} values each, got {len(indices)}, {len(alphas)}")
    for j, alpha in zip(indices, alphas):
        params = split_neuron(params, layer, j, alpha)
    return params


def criticality(loss_fn: Callable, params, *args, ord=2) -> jax.Array:
    """|grad L(theta)|_ord on the raveled parameters (0 at a critical point).

    ``loss_fn(params, *args) -> scalar``; ``ord``: 1, 2 or jnp.inf.
    """
    g, _ = ravel_pytree(jax.grad(loss_fn)(params, *args))
    return jnp.linalg.norm(g, ord=ord)


def embedding_report(loss_fn: Callable, narrow, wide, *args, tol: float = 1e-10) -> dict:
    """Loss, gradient norm and Hessian eigenvalue counts of a point and its embedding.

    Returns ``{"narrow": {...}, "wide": {...}}``, each with ``loss``, ``grad_l1``,
    ``grad_l2``, ``n_negative``, ``n_zero``, ``n_positive`` (eigenvalues with |lambda| <= tol
    are zero) and ``eigenvalues`` [M]. Use float64 (``jax.enable_x64``): the counts near zero
    and the gradient norms of a critical point (~1e-13) need it.
    """
    @jax.jit
    def measures(p, *a):
        eig = jnp.linalg.eigvalsh(hessian(loss_fn, p, *a))
        g, _ = ravel_pytree(jax.grad(loss_fn)(p, *a))
        return loss_fn(p, *a), jnp.sum(jnp.abs(g)), jnp.linalg.norm(g), eig, eigen_counts(eig, tol)

    out = {}
    for name, p in (("narrow", narrow), ("wide", wide)):
        loss, g1, g2, eig, (neg, zero, pos) = measures(p, *args)
        out[name] = {"loss": float(loss), "grad_l1": float(g1), "grad_l2": float(g2),
                     "n_negative": int(neg), "n_zero": int(zero), "n_positive": int(pos),
                     "eigenvalues": np.asarray(eig)}
    return out


def refine_critical_point(loss_fn: Callable, params, *args, steps: int = 20):
    """Polish an approximate critical point by Newton steps theta <- theta - H^+ grad L.

    The pseudo-inverse (least squares) step converges quadratically to the nearby critical
    point whatever its index; a step is kept only when it lowers |grad L|_2 (so a start far
    from any critical point is returned unchanged rather than thrown away: train first).
    Run under ``jax.enable_x64(True)`` to reach |grad|_1 ~ 1e-13 (book Fig 9.7). Small models
    only (dense Hessian).
    """
    theta, unravel = ravel_pytree(params)
    flat = lambda t: loss_fn(unravel(t), *args)
    grad = jax.grad(flat)

    @jax.jit
    def newton_direction(t):
        return jnp.linalg.lstsq(jax.hessian(flat)(t), grad(t))[0]

    grad_norm = jax.jit(lambda t: jnp.linalg.norm(grad(t)))
    best, g_best = theta, grad_norm(theta)
    for _ in range(steps):
        theta = theta - newton_direction(theta)
        g = grad_norm(theta)
        if not jnp.isfinite(g):
            break
        if g < g_best:
            best, g_best = theta, g
    return unravel(best)
