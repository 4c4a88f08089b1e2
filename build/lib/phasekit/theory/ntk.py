"""Empirical neural tangent kernel and the linearized (first-order Taylor) model.

    Theta(x, x') = J(x; theta) J(x'; theta)^T = sum_p df(x)/dtheta_p df(x')/dtheta_p
    f_lin(x; theta) = f(x; theta0) + J(x; theta0) (theta - theta0)

Implementations of :func:`empirical_ntk` (one signature, same result; pick by cost):

    jacobian    per-example Jacobians (vmap of jacrev over samples), contracted leaf by leaf.
                O((n1 + n2) k P) memory; best for CNNs (expensive forward, few params).
    ntvp        NTK-vector products: Theta e_j = J1 (J2^T e_j), one VJP (batch 1) and one JVP
                (batch n1) per column; no Jacobian of x1 is stored. Good for large outputs.
    structured  dense layers only: with h_l the inputs of layer l and delta_l = df/dz_l the
                sensitivities of its pre-activations z_l = h_l W_l + b_l,
                    Theta = sum_l (h_l(x) . h_l(x') + [bias]) * (delta_l(x) . delta_l(x'))
                (one forward and k backward passes; no Jacobian). Works for
                ``phasekit.models.mlp.apply`` and ``phasekit.models.two_layer.apply`` (bare or
                as ``functools.partial`` with keyword arguments) and for ``module.apply`` of a
                Flax linen module whose parameters all belong to ``nn.Dense`` layers, each
                called once on [n, fan_in] inputs; other models raise ValueError.
    auto        structured when the model is recognized, else jacobian.

``apply_fn(params, x) -> [n, *out]`` must treat samples independently (no batch statistics);
``params`` is any pytree (a Flax model: ``apply_fn = module.apply``, ``params = variables``).
Everything is a pure function of arrays: jit it, vmap it over a leading seed axis of params.
"""

from __future__ import annotations

import functools
import math
import string
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from phasekit.models import activations, mlp, two_layer

IMPLEMENTATIONS = ("auto", "jacobian", "ntvp", "structured")


def empirical_ntk(apply_fn: Callable, params, x1, x2=None, *, implementation: str = "auto",
                  trace_axes: Sequence[int] | None = None, batch_size: int | None = None):
    """Empirical NTK Theta(x1, x2) = J(x1) J(x2)^T of ``apply_fn`` at ``params``.

    Args:
      apply_fn: ``(params, x) -> [n, *out]`` (``[n]`` for scalar outputs).
      params: pytree.
      x1: [n1, ...] inputs; x2: [n2, ...] (default: x1, which ``structured`` exploits).
      implementation: auto | jacobian | ntvp | structured (see the module docstring).
      trace_axes: axes of the per-example output ``out`` summed over (the kernel is
        ``sum_c J_c J_c^T``); default: all of them. ``()`` keeps every output axis.
      batch_size: compute in blocks of at most ``batch_size`` samples of x1 and x2 (memory is
        then bounded by one block; the result is the same). ``structured`` runs its forward and
        backward passes in such blocks; its per-layer Gram products are the output's size.
    Returns:
      [n1, n2, *kept, *kept]: kept = the output axes not traced ([n1, n2] by default).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation: unknown {implementation!r}; known: {', '.join(IMPLEMENTATIONS)}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: must be a positive integer or None, got {batch_size!r}")
    same = x2 is None
    x2 = x1 if same else x2
    out_shape = jax.eval_shape(apply_fn, params, x1[:1]).shape[1:]
    traced = _normalize_axes(trace_axes, len(out_shape))
    probe = _dense_structure(apply_fn, params, x1) if implementation in ("auto", "structured") else None
    if implementation == "structured" and probe is None:
        raise ValueError(
            "implementation: 'structured' needs a dense model it can structure "
            "(phasekit.models.mlp.apply or two_layer.apply, bare or functools.partial with "
            "keyword arguments, or a Flax module.apply made of nn.Dense layers only); use "
            "'jacobian' or 'ntvp' for this model")
    if implementation == "structured" or (implementation == "auto" and probe is not None):
        return _structured(probe, params, x1, None if same else x2, len(out_shape), traced, batch_size)
    block = functools.partial(_jacobian_block if implementation in ("auto", "jacobian") else _ntvp_block,
                              apply_fn, params, out_ndim=len(out_shape), traced=traced)
    return _blocked(block, x1, x2, batch_size)


def linearize(apply_fn: Callable, params0) -> Callable:
    """First-order Taylor model around ``params0``, with the same signature as ``apply_fn``:

        f_lin(params, x) = f(params0, x) + J(x; params0) (params - params0)   (one JVP)

    Train it exactly like the network, e.g. ``train.run(train.mse(f_lin), params0, ...)``:
    its gradient is J(params0)^T r, so GD on it is kernel GD with the frozen NTK.
    """

    def apply_lin(params, x, **kwargs):
        f = lambda p: apply_fn(p, x, **kwargs)
        dp = jax.tree_util.tree_map(jnp.subtract, params, params0)
        f0, df = jax.jvp(f, (params0,), (dp,))
        return f0 + df

    return apply_lin


# ---------------------------------------------------------------- output axes and contraction

def _normalize_axes(trace_axes, out_ndim: int) -> tuple[int, ...]:
    if trace_axes is None:
        return tuple(range(out_ndim))
    axes = tuple(int(a) for a in trace_axes)
    if any(not -out_ndim <= a < out_ndim for a in axes):
        raise ValueError(f"trace_axes: axes of the per-example output (ndim {out_ndim}), got {trace_axes}")
    axes = tuple(sorted({a % out_ndim for a in axes}))
    return axes


def _contract(a, b, out_ndim: int, traced: tuple[int, ...]):
    """a: [n1, *out, *feat], b: [n2, *out, *feat] -> [n1, n2, *kept, *kept] (sum over feat, traced)."""
    feat_ndim = a.ndim - 1 - out_ndim
    letters = iter(string.ascii_letters[2:])
    out_a = [next(letters) for _ in range(out_ndim)]
    out_b = [out_a[i] if i in traced else next(letters) for i in range(out_ndim)]
    feat = "".join(next(letters) for _ in range(feat_ndim))
    kept = "".join(out_a[i] for i in range(out_ndim) if i not in traced) + \
        "".join(out_b[i] for i in range(out_ndim) if i not in traced)
    return jnp.einsum(f"a{''.join(out_a)}{feat},b{''.join(out_b)}{feat}->ab{kept}", a, b)


def _chunks(x, size: int):
    """[n, ...] -> [c, size, ...] (padded by repeating row 0), and n."""
    n = x.shape[0]
    c = -(-n // size)
    pad = jnp.broadcast_to(x[:1], (c * size - n,) + x.shape[1:])
    return jnp.concatenate([x, pad]).reshape((c, size) + x.shape[1:]), n


def _blocked(block: Callable, x1, x2, batch_size):
    """Assemble Theta from blocks block(x1_chunk, x2_chunk) -> [b1, b2, ...]."""
    if batch_size is None or (x1.shape[0] <= batch_size and x2.shape[0] <= batch_size):
        return block(x1, x2)
    c1, n1 = _chunks(x1, batch_size)
    c2, n2 = _chunks(x2, batch_size)
    rows = jax.lax.map(lambda a: jax.lax.map(lambda b: block(a, b), c2), c1)   # [C1, C2, bs, bs, ...]
    rows = jnp.moveaxis(rows, 2, 1)
    rows = rows.reshape((rows.shape[0] * batch_size, rows.shape[2] * batch_size) + rows.shape[4:])
    return rows[:n1, :n2]


def _single(apply_fn, params, xi):
    return apply_fn(params, xi[None])[0]


# ---------------------------------------------------------------- jacobian and ntvp

def _jacobian_block(apply_fn, params, x1, x2, *, out_ndim, traced):
    jac = jax.vmap(jax.jacrev(functools.partial(_single, apply_fn)), in_axes=(None, 0))
    j1, j2 = jac(params, x1), jac(params, x2)
    terms = jax.tree_util.tree_map(lambda a, b: _contract(a, b, out_ndim, traced), j1, j2)
    return sum(jax.tree_util.tree_leaves(terms))


def _ntvp_block(apply_fn, params, x1, x2, *, out_ndim, traced):
    f1 = lambda p: apply_fn(p, x1)
    out_shape = jax.eval_shape(f1, params).shape[1:]
    basis = jnp.eye(max(math.prod(out_shape), 1), dtype=jax.eval_shape(f1, params).dtype).reshape((-1,) + out_shape)

    def column(xj, e):              # Theta(x1, xj)_{., e} = J1 (J(xj)^T e)
        _, vjp = jax.vjp(lambda p: _single(apply_fn, p, xj), params)
        return jax.jvp(f1, (params,), vjp(e))[1]                  # [n1, *out]

    cols = jax.vmap(lambda xj: jax.vmap(lambda e: column(xj, e))(basis))(x2)   # [n2, K, n1, *out]
    cols = cols.reshape((x2.shape[0],) + out_shape + (x1.shape[0],) + out_shape)
    letters = iter(string.ascii_letters[2:])
    out_a = [next(letters) for _ in range(out_ndim)]
    out_b = [out_a[i] if i in traced else next(letters) for i in range(out_ndim)]
    kept = "".join(out_a[i] for i in range(out_ndim) if i not in traced) + \
        "".join(out_b[i] for i in range(out_ndim) if i not in traced)
    return jnp.einsum(f"b{''.join(out_b)}a{''.join(out_a)}->ab{kept}", cols)


# ---------------------------------------------------------------- structured (dense layers)

def _dense_structure(apply_fn, params, x):
    """A probe ``(params, x) -> (eps_shapes, biases, run)`` for known dense models, else None.

    ``run(eps) -> (out, inputs)`` evaluates the model with ``eps_l`` ([n, fan_out_l]) added to
    each pre-activation; ``inputs`` are the layer inputs h_l ([n, fan_in_l])."""
    fn, kwargs = apply_fn, {}
    if isinstance(apply_fn, functools.partial):
        if apply_fn.args:
            return None
        fn, kwargs = apply_fn.func, dict(apply_fn.keywords)
    if fn is mlp.apply and set(kwargs) <= {"activation", "residual", "layer_activations"}:
        return functools.partial(_mlp_probe, **kwargs)
    if fn is two_layer.apply and set(kwargs) <= {"activation", "alpha"}:
        return functools.partial(_two_layer_probe, **kwargs)
    module = getattr(fn, "__self__", None)
    if isinstance(module, nn.Module) and getattr(fn, "__func__", None) is nn.Module.apply and not kwargs:
        probe = functools.partial(_flax_dense_probe, module)
        return probe if probe(params, x[:1]) is not None else None
    return None


def _mlp_probe(params, x, activation="relu", residual=False, layer_activations=None):
    """Mirror of ``mlp.apply`` with probes on the pre-activations."""
    acts = layer_activations or [activation] * (len(params) - 1)
    shapes = [(x.shape[0], layer["w"].shape[1]) for layer in params]
    biases = ["b" in layer for layer in params]

    def run(eps):
        h, inputs = x, []
        for layer, act, e in zip(params[:-1], acts, eps[:-1]):
            inputs.append(h)
            new = activations.get(act)(h @ layer["w"] + layer.get("b", 0.0) + e)
            h = h + new if residual and new.shape == h.shape else new
        inputs.append(h)
        out = h @ params[-1]["w"] + params[-1].get("b", 0.0) + eps[-1]
        return (out[:, 0] if out.shape[1] == 1 else out), inputs

    return shapes, biases, run


def _two_layer_probe(params, x, activation="relu", alpha=1.0):
    """Mirror of ``two_layer.apply``: layers z = x w^T + b (params w, b) and f = sigma(z) a / alpha."""
    n, m = x.shape[0], params["w"].shape[0]
    shapes = [(n, m), (n, 1)]
    biases = ["b" in params, False]

    def run(eps):
        h = activations.get(activation)(two_layer.preactivation(params, x) + eps[0])
        return ((h @ params["a"])[:, None] + eps[1])[:, 0] / alpha, [x, h]

    return shapes, biases, run


def _flax_dense_probe(module, variables, x):
    """Flax modules made of ``nn.Dense`` layers: probes through ``nn.intercept_methods``
    (None when a parameter lies outside a Dense layer called once on [n, fan_in] inputs)."""
    found = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
            found.append((args[0].ndim, out.shape, context.module.use_bias,
                          context.module.variables["params"]["kernel"]))
        return out

    with nn.intercept_methods(record):          # a fresh function: a cached trace would skip `record`
        jax.eval_shape(lambda v, xx: module.apply(v, xx), variables, x)
    kernels = [k for *_, k in found]
    n_dense = sum(k.size + (k.shape[-1] if bias else 0) for (_, _, bias, k) in found)
    n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables))
    if (not found or n_dense != n_params or any(nd != 2 for nd, *_ in found)
            or len({id(k) for k in kernels}) != len(kernels)):
        return None
    shapes = [shape for _, shape, _, _ in found]
    biases = [bias for _, _, bias, _ in found]

    def run(eps):
        inputs, calls = [], iter(range(len(found)))

        def probe(next_fun, args, kwargs, context):
            if isinstance(context.module, nn.Dense) and context.method_name == "__call__":
                inputs.append(args[0])
                return next_fun(*args, **kwargs) + eps[next(calls)]
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(probe):
            out = module.apply(variables, x)
        return out, inputs

    return shapes, biases, run


def _dense_factors(probe, params, x):
    """Layer inputs h_l [n, fan_in] and sensitivities delta_l = df/dz_l [n, *out, fan_out]."""
    shapes, _, run = probe(params, x)
    eps0 = [jnp.zeros(s, x.dtype) for s in shapes]
    out, vjp, inputs = jax.vjp(run, eps0, has_aux=True)
    k = max(math.prod(out.shape[1:]), 1)
    # samples are independent, so one all-ones cotangent per output component gives every
    # sample's df_i/dz_l(x_i) at once
    basis = jnp.broadcast_to(jnp.eye(k, dtype=out.dtype)[:, None, :], (k, out.shape[0], k))
    deltas = jax.vmap(lambda c: vjp(c.reshape(out.shape))[0])(basis)        # each [k, n, fan_out]
    deltas = [jnp.moveaxis(d, 0, 1).reshape((d.shape[1],) + out.shape[1:] + d.shape[2:]) for d in deltas]
    return inputs, deltas


def _structured(probe, params, x1, x2, out_ndim: int, traced, batch_size):
    def factors(x):
        if batch_size is None or x.shape[0] <= batch_size:
            return _dense_factors(probe, params, x)
        chunks, n = _chunks(x, batch_size)
        hs, ds = jax.lax.map(lambda c: _dense_factors(probe, params, c), chunks)
        merge = lambda a: a.reshape((-1,) + a.shape[2:])[:n]
        return [merge(h) for h in hs], [merge(d) for d in ds]

    biases = probe(params, x1[:1])[1]
    h1, d1 = factors(x1)
    h2, d2 = (h1, d1) if x2 is None else factors(x2)
    theta = 0.0
    for a, b, da, db, bias in zip(h1, h2, d1, d2, biases):
        gram = a @ b.T + (1.0 if bias else 0.0)                    # h(x) . h(x') (+ 1 for the bias)
        sens = _contract(da, db, out_ndim, traced)                  # delta(x) . delta(x')
        theta = theta + gram.reshape(gram.shape + (1,) * (sens.ndim - 2)) * sens
    return theta
