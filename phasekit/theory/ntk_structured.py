"""Structured empirical NTK of any function, by rules applied to its traced program (jaxpr).

A parameter W that enters the per-example program ``f(params, x_i)`` exactly once, as one
operand of a bilinear layer ``y = B(h, W)`` (``dot_general``: dense layers, attention
projections, einsums; ``conv_general_dilated``: convolutions), possibly after a
norm-preserving reshaping (transpose, reshape, squeeze, expand_dims, dtype cast), has the
per-example Jacobian

    df(x_i)/dW = B_W^T(h_i, delta_i),     delta_i = df(x_i)/dy   [*out, *y.shape]

(``h_i`` the layer input, ``delta_i`` the output's sensitivity to the layer output), so its
NTK term needs no Jacobian. Two forms, the cheaper chosen per layer by its flop count:

    gram      dot_general only. With y[b, l, r] = sum_c h[b, l, c] W[b, c, r] (b batch, l free
              dims of h, r free dims of W, c contracted):
                  Theta_W(x_i, x_j) = sum_{b, l, m} (sum_c h_i[b,l,c] h_j[b,m,c])
                                                  * (sum_r delta_i[b,l,r] delta_j[b,m,r])
              a dense layer on one position (l = m = 1) is (h_i . h_j)(delta_i . delta_j).
    gradient  per-example weight gradients g_i = B_W^T(h_i, delta_i) (one transposed layer per
              output component), Theta_W = g_i . g_j: the choice for convolutions and for
              projections applied at many positions (sequences).

Every other parameter (biases, layer-norm scales, weights used twice or elementwise) falls
back to its own per-example Jacobian: Theta_p = J_p(x_i) . J_p(x_j). The deltas and the
fallback Jacobians come from one backward pass per output component, through the program
with a zero perturbation added at every layer output (delta = its cotangent).

The program is traced once per (function, parameter shapes, input shape) and read by
:func:`plan`; :func:`factors` and :func:`kernel` evaluate it. Calls (``jit``) are inlined;
other higher-order primitives (scan, cond, custom derivatives) are run as they are and the
parameters they read fall back.
"""

from __future__ import annotations

import math
import string
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

__all__ = ["Plan", "Site", "contract", "factors", "gram_form", "kernel", "plan", "trace"]

# norm-preserving reshapings of a parameter: the layer rule holds for the reshaped operand
_STRUCTURAL = frozenset(
    {"transpose", "reshape", "squeeze", "expand_dims", "convert_element_type", "copy", "copy_p"}
)
_BILINEAR = frozenset({"dot_general", "conv_general_dilated"})
_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})


class Site(NamedTuple):
    """One layer y = B(h, W') of the program whose parameter operand W' is one leaf, reshaped.

    Fields: ``path`` equation indices from the outer program down to this equation; ``leaf`` the
    parameter leaf's index; ``primitive`` dot_general or conv_general_dilated; ``params`` the
    equation's bind parameters (a hashable tuple of items); ``w_pos`` the operand position of W'
    (0 or 1); ``h_shape`` the per-example shape of the activation operand h; ``w_shape``,
    ``w_dtype`` of W'; ``y_shape``, ``y_dtype`` of the per-example layer output y.
    """

    path: tuple[int, ...]  # equation indices from the outer program down to this equation
    leaf: int  # index of the parameter leaf
    primitive: Any  # dot_general or conv_general_dilated
    params: Any  # the equation's bind parameters (hashable tuple of items)
    w_pos: int  # operand position of W' (0 or 1)
    h_shape: tuple[int, ...]  # per-example shape of the activation operand h
    w_shape: tuple[int, ...]  # shape of W'
    w_dtype: Any
    y_shape: tuple[int, ...]  # per-example shape of the layer output y
    y_dtype: Any


class Plan(NamedTuple):
    """The traced per-example program and what each parameter leaf gets.

    ``jaxpr``: the program ``(*leaves, x_i) -> f_i`` (its constants are passed separately, as
    arrays); ``sites``: the layers with a rule, one per structured leaf; ``fallback``: indices
    of the floating leaves contracted through their Jacobians; ``out_shape``, ``out_dtype``: the
    per-example output's shape and dtype.
    """

    jaxpr: Any
    sites: tuple[Site, ...]
    fallback: tuple[int, ...]
    out_shape: tuple[int, ...]
    out_dtype: Any

    def __hash__(self):  # static argument of jit: the cached plan object itself
        return id(self)

    def __eq__(self, other):
        return self is other


def trace(apply_fn, params, x):
    """ClosedJaxpr of the per-example program ``(*leaves, x_i) -> apply_fn(params, x_i[None])[0]``.

    ``apply_fn(params, x) -> [n, *out]``; ``params``: its pytree (leaves in flattening order);
    ``x``: [n, ...] inputs (only the per-example shape and dtype are used).
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    avals = [jax.ShapeDtypeStruct(np.shape(l), jnp.result_type(l)) for l in leaves]
    xi = jax.ShapeDtypeStruct(np.shape(x)[1:], jnp.result_type(x))

    def single(leaves, xi):
        out = apply_fn(jax.tree_util.tree_unflatten(treedef, leaves), xi[None])
        if not isinstance(out, jax.Array) or out.ndim == 0:
            raise ValueError(
                f"apply_fn: must return one array [n, *out], got {jax.tree_util.tree_structure(out)}"
            )
        return out[0]

    return jax.make_jaxpr(single)(avals, xi)


def plan(closed) -> Plan:
    """Read the rules off a program from :func:`trace` (see the module docstring): ``closed``
    the ClosedJaxpr; returns its :class:`Plan`."""
    jaxpr = closed.jaxpr
    n_leaves = len(jaxpr.invars) - 1
    uses: list[list] = [[] for _ in range(n_leaves)]  # per leaf: the Sites or None (opaque use)
    _analyze(jaxpr, [*range(n_leaves), None], (), uses)
    floating = [jnp.issubdtype(v.aval.dtype, jnp.inexact) for v in jaxpr.invars[:-1]]
    sites, fallback = [], []
    for leaf, used in enumerate(uses):
        if not floating[leaf]:
            continue
        if len(used) == 1 and used[0] is not None:
            sites.append(used[0])
        elif used:
            fallback.append(leaf)
    (out,) = jaxpr.outvars
    return Plan(jaxpr, tuple(sites), tuple(fallback), tuple(out.aval.shape), out.aval.dtype)


def _analyze(jaxpr, origin_in, path, uses):
    """Record every use of every parameter leaf; ``origin`` maps a variable to the leaf it is a
    reshaping of (None: an activation or constant)."""
    origin = {v: o for v, o in zip(jaxpr.invars, origin_in) if o is not None}
    of = lambda v: origin.get(v) if isinstance(v, jcore.Var) else None
    for i, eqn in enumerate(jaxpr.eqns):
        ins = [of(v) for v in eqn.invars]
        name = eqn.primitive.name
        if all(o is None for o in ins):
            continue
        if (
            name in _STRUCTURAL
            and len(eqn.invars) == 1
            and (
                name != "convert_element_type"
                or jnp.issubdtype(eqn.outvars[0].aval.dtype, jnp.inexact)
            )
        ):
            origin[eqn.outvars[0]] = ins[0]
        elif name in _CALLS and "jaxpr" in eqn.params:
            sub = eqn.params["jaxpr"]
            sub = getattr(sub, "jaxpr", sub)
            for o in _analyze(sub, ins, path + (i,), uses):
                if o is not None:  # a reshaped parameter returned: opaque
                    uses[o].append(None)
        elif name in _BILINEAR and sum(o is not None for o in ins) == 1:
            w_pos = 0 if ins[0] is not None else 1
            h, w, y = eqn.invars[1 - w_pos], eqn.invars[w_pos], eqn.outvars[0]
            uses[ins[w_pos]].append(
                Site(
                    path + (i,),
                    ins[w_pos],
                    eqn.primitive,
                    tuple(sorted(eqn.params.items())),
                    w_pos,
                    tuple(h.aval.shape),
                    tuple(w.aval.shape),
                    w.aval.dtype,
                    tuple(y.aval.shape),
                    y.aval.dtype,
                )
            )
        else:
            for o in ins:
                if o is not None:
                    uses[o].append(None)
    return [of(v) for v in jaxpr.outvars]


# ---------------------------------------------------------------- evaluation


def _eval(jaxpr, consts, args, path, probes):
    """Evaluate ``jaxpr``; at every site in ``probes`` (path -> index) record the activation
    operand and add the perturbation ``probes.eps[index]`` to the layer output."""
    env = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts):
        env[v] = c
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for i, eqn in enumerate(jaxpr.eqns):
        here = path + (i,)
        invals = [read(v) for v in eqn.invars]
        if eqn.primitive.name in _CALLS and "jaxpr" in eqn.params and here in probes.inside:
            sub = eqn.params["jaxpr"]
            outs = (
                _eval(sub.jaxpr, sub.consts, invals, here, probes)
                if hasattr(sub, "jaxpr")
                else _eval(sub, (), invals, here, probes)
            )
        else:
            outs = _bind(eqn.primitive, eqn.params, invals)
            outs = outs if eqn.primitive.multiple_results else [outs]
            k = probes.index.get(here)
            if k is not None:
                probes.h[k] = invals[1 - probes.sites[k].w_pos]
                outs = [outs[0] + probes.eps[k]]
        for v, o in zip(eqn.outvars, outs):
            if not isinstance(v, jcore.DropVar):
                env[v] = o
    return [read(v) for v in jaxpr.outvars]


def _bind(primitive, params, args):
    bind_params = primitive.get_bind_params(params)
    subfuns, bind_params = (
        bind_params if isinstance(bind_params, tuple) else ((), bind_params)
    )  # jax < 0.7
    return primitive.bind(*subfuns, *args, **bind_params)


class _Probes:
    def __init__(self, sites, eps):
        self.sites, self.eps = sites, eps
        self.index = {s.path: k for k, s in enumerate(sites)}
        self.inside = {s.path[:d] for s in sites for d in range(1, len(s.path))}
        self.h = [None] * len(sites)


def factors(p: Plan, consts, leaves, x):
    """Per-example factors of the kernel, each with a leading [n] axis.

    Args:
      p: the :class:`Plan`;  consts: the traced program's constants (arrays);  leaves: the
        parameter leaves;  x: [n, ...] inputs.
    Returns:
      (h, delta, jac): ``h[s]`` [n, *h_shape] and ``delta[s]`` [n, *out, *y_shape] per site,
      ``jac[f]`` [n, *out, *leaf_shape] per fallback leaf.
    """
    k = max(math.prod(p.out_shape), 1)
    basis = jnp.eye(k, dtype=p.out_dtype).reshape((k,) + p.out_shape)

    def one(xi):
        def run(eps, fb):
            args = list(leaves)
            for f, leaf in zip(p.fallback, fb):
                args[f] = leaf
            probes = _Probes(p.sites, eps)
            (out,) = _eval(p.jaxpr, consts, [*args, xi], (), probes)
            return out, probes.h

        eps0 = [jnp.zeros(s.y_shape, s.y_dtype) for s in p.sites]
        _, vjp, h = jax.vjp(run, eps0, [leaves[f] for f in p.fallback], has_aux=True)
        if k == 1:  # one output: no batch of cotangents
            delta, jac = jax.tree_util.tree_map(lambda a: a[None], vjp(basis[0]))
        else:
            delta, jac = jax.vmap(vjp)(basis)  # each [k, *shape]
        unflat = lambda a: a.reshape(p.out_shape + a.shape[1:])
        return h, [unflat(d) for d in delta], [unflat(j) for j in jac]

    return jax.vmap(one)(x)


# ---------------------------------------------------------------- kernel assembly


def _out_letters(out_ndim, traced, letters):
    a = [next(letters) for _ in range(out_ndim)]
    b = [a[i] if i in traced else next(letters) for i in range(out_ndim)]
    kept = "".join(a[i] for i in range(out_ndim) if i not in traced) + "".join(
        b[i] for i in range(out_ndim) if i not in traced
    )
    return "".join(a), "".join(b), kept


def contract(a, b, out_ndim: int, traced):
    """a: [n1, *out, *feat], b: [n2, *out, *feat] -> [n1, n2, *kept, *kept] (sum over feat, traced).

    ``out_ndim``: the number of output axes; ``traced``: the output axes summed over (the rest
    are kept, once for x1 and once for x2).
    """
    letters = iter(string.ascii_letters[2:])
    oa, ob, kept = _out_letters(out_ndim, traced, letters)
    feat = "".join(next(letters) for _ in range(a.ndim - 1 - out_ndim))
    return jnp.einsum(f"a{oa}{feat},b{ob}{feat}->ab{kept}", a, b)


def _dot_dims(site: Site):
    """(h axes ordered batch + free + contracted, sizes B, L, C, R, whether y is [B, R, L])."""
    params = dict(site.params)
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    hc, hb = (rc, rb) if site.w_pos == 0 else (lc, lb)
    wc, wb = (lc, lb) if site.w_pos == 0 else (rc, rb)
    nd = len(site.h_shape)
    hf = [d for d in range(nd) if d not in hc and d not in hb]
    size = lambda dims, shape: math.prod(shape[d] for d in dims)
    B, L, C = size(hb, site.h_shape), size(hf, site.h_shape), size(hc, site.h_shape)
    R = math.prod(site.w_shape) // max(size(wc, site.w_shape) * size(wb, site.w_shape), 1)
    return tuple(hb) + tuple(hf) + tuple(hc), (B, L, C, R), site.w_pos == 0


def _patchable(site: Site) -> bool:
    params = dict(site.params)
    return (
        site.primitive.name == "conv_general_dilated"
        and site.w_pos == 1
        and params["feature_group_count"] == 1
        and params["batch_group_count"] == 1
    )


def _sizes(site: Site):
    """(B, L, C, R) of the layer as y[b, l, r] = sum_c h[b, l, c] W[b, c, r]; a convolution is
    one on its patches: l = output positions, c = input channels x window, r = output channels."""
    if site.primitive.name == "dot_general":
        return _dot_dims(site)[1]
    dn = dict(site.params)["dimension_numbers"]
    L = math.prod(site.y_shape[d] for d in (dn.out_spec[0], *dn.out_spec[2:]))
    return (
        1,
        L,
        math.prod(site.w_shape) // site.w_shape[dn.rhs_spec[0]],
        site.w_shape[dn.rhs_spec[0]],
    )


def _conv_operands(site: Site, h, delta, out_ndim):
    """h [n, *h_shape] -> patches [n, 1, L, C]; delta [n, *out, *y_shape] -> [n, *out, 1, L, R]."""
    params = dict(site.params)
    dn = params["dimension_numbers"]
    _, L, C, R = _sizes(site)
    window = [site.w_shape[d] for d in dn.rhs_spec[2:]]
    patches = jax.vmap(
        lambda hi: jax.lax.conv_general_dilated_patches(
            hi,
            window,
            params["window_strides"],
            params["padding"],
            params["lhs_dilation"],
            params["rhs_dilation"],
            dn,
            params["precision"],
        )
    )(h)
    positions_last = (dn.out_spec[0], *dn.out_spec[2:], dn.out_spec[1])
    hr = patches.transpose((0,) + tuple(1 + a for a in positions_last)).reshape(h.shape[0], 1, L, C)
    lead = 1 + out_ndim
    d = delta.transpose(tuple(range(lead)) + tuple(lead + a for a in positions_last))
    return hr, d.reshape(delta.shape[:lead] + (1, L, R))


def gram_form(site: Site, out_pairs: int) -> bool:
    """Gram form when the layer acts at one position (L = 1: no gradient to form) or when it is
    cheaper per kernel entry than weight gradients: B L^2 (C + R k) vs B C R k. ``site``: the
    layer; ``out_pairs``: the kernel entries per example pair. Returns True for the Gram form."""
    if site.primitive.name != "dot_general" and not _patchable(site):
        return False
    B, L, C, R = _sizes(site)
    return L == 1 or B * L * L * (C + R * out_pairs) <= B * C * R * out_pairs


def _weight_gradient(site: Site, h, delta, out_ndim):
    """g = B_W^T(h, delta) per example and output component: [n, *out, W'] (W' flattened for a
    dot_general, whose g[b, c, r] = sum_l h[b, l, c] delta[b, l, r] is one batched product)."""
    if site.primitive.name == "dot_general" or _patchable(site):
        hr, dr = _gram_operands(site, h, delta, out_ndim)
        return jnp.einsum("nblc,n...blr->n...bcr", hr, dr)
    w0 = jnp.zeros(site.w_shape, site.w_dtype)

    def grad(hi, di):
        layer = lambda w: _bind(
            site.primitive, dict(site.params), (w, hi) if site.w_pos == 0 else (hi, w)
        )
        return jax.vjp(layer, w0)[1](di)[0]

    out_shape = delta.shape[1 : 1 + out_ndim]
    d = delta.reshape((delta.shape[0], -1) + delta.shape[1 + out_ndim :])
    g = jax.vmap(lambda hi, di: jax.vmap(lambda dk: grad(hi, dk))(di))(h, d)
    return g.reshape((g.shape[0],) + out_shape + g.shape[2:])


def _gram_operands(site: Site, h, delta, out_ndim):
    """h [n, *h_shape] -> [n, B, L, C]; delta [n, *out, *y_shape] -> [n, *out, B, L, R]."""
    if site.primitive.name != "dot_general":
        return _conv_operands(site, h, delta, out_ndim)
    order, (B, L, C, R), swap = _dot_dims(site)
    hr = h.transpose((0,) + tuple(1 + a for a in order)).reshape(h.shape[0], B, L, C)
    d = delta.reshape(delta.shape[: 1 + out_ndim] + ((B, R, L) if swap else (B, L, R)))
    return hr, (jnp.swapaxes(d, -1, -2) if swap else d)


def kernel(p: Plan, f1, f2, out_ndim: int, traced):
    """Theta(x1, x2) [n1, n2, *kept, *kept] from the factors of x1 and x2 (see :func:`factors`).

    ``p``: the :class:`Plan`; ``f1``, ``f2``: :func:`factors` of x1 and x2; ``out_ndim``,
    ``traced``: as :func:`contract`.
    """
    (h1, d1, j1), (h2, d2, j2) = f1, f2
    kept = math.prod(p.out_shape[i] for i in range(out_ndim) if i not in traced)
    out_pairs = math.prod(p.out_shape[i] for i in traced) * kept * kept
    theta: float | jax.Array = 0.0
    for site, ha, hb, da, db in zip(p.sites, h1, h2, d1, d2):
        if gram_form(site, out_pairs):
            (h1r, d1r), (h2r, d2r) = (
                _gram_operands(site, ha, da, out_ndim),
                _gram_operands(site, hb, db, out_ndim),
            )
            oa, ob, kp = _out_letters(out_ndim, traced, iter(string.ascii_uppercase))
            gh = jnp.einsum("iblc,jbmc->ijblm", h1r, h2r)
            gd = jnp.einsum(f"i{oa}blr,j{ob}bmr->ij{kp}blm", d1r, d2r)
            term = jnp.einsum(f"ijblm,ij{kp}blm->ij{kp}", gh, gd)
        else:
            ga = _weight_gradient(site, ha, da, out_ndim)
            gb = ga if (ha is hb and da is db) else _weight_gradient(site, hb, db, out_ndim)
            term = contract(ga, gb, out_ndim, traced)
        theta = theta + term
    for a, b in zip(j1, j2):
        theta = theta + contract(a, b, out_ndim, traced)
    return theta
