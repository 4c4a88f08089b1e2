"""Empirical neural tangent kernel and the linearized (first-order Taylor) model.

    Theta(x, x') = J(x; theta) J(x'; theta)^T = sum_p df(x)/dtheta_p df(x')/dtheta_p
    f_lin(x; theta) = f(x; theta0) + J(x; theta0) (theta - theta0)

Implementations of :func:`empirical_ntk` (one signature, same result; pick by cost):

    jacobian    per-example Jacobians (vmap of jacrev over samples), contracted leaf by leaf.
                O((n1 + n2) k P) memory.
    ntvp        NTK-vector products: Theta e_j = J1 (J2^T e_j), one VJP (batch 1) and one JVP
                (batch n1) per column; no Jacobian of x1 is stored. Good for large outputs.
    structured  rules on the traced program of ``apply_fn`` (any function, see
                :mod:`phasekit.theory.ntk_structured`): every parameter used once as an operand
                of a ``dot_general`` (dense layers, attention projections) or a
                ``conv_general_dilated`` gets its layer's rule, e.g. for a dense layer
                z_l = h_l W_l with sensitivities delta_l = df/dz_l
                    Theta_W = (h_l(x) . h_l(x')) * (delta_l(x) . delta_l(x'))
                (no Jacobian), convolutions their per-example weight gradients; every other
                parameter (biases, scales, shared weights) its Jacobian contraction.
    auto        structured when the program has at least one such layer, else jacobian.

The implementation chosen and which parameters got a layer rule: :func:`ntk_plan`, or
``empirical_ntk(..., return_plan=True)``.

``apply_fn(params, x) -> [n, *out]`` must treat samples independently (no batch statistics);
``params`` is any pytree (a Flax model: ``apply_fn = module.apply``, ``params = variables``, or
``lambda p, x: module.apply({"params": p}, x)``). :func:`empirical_ntk` is jitted inside (the
compiled program is reused for the same ``apply_fn``, also for a ``functools.partial`` made
anew with equal arguments); it is a pure function of arrays: jit it, vmap it over a leading
seed axis of params.
"""

from __future__ import annotations

import collections
import functools
import math
import string
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from phasekit.theory import ntk_structured as structured_rules

__all__ = ["NTKPlan", "NTKResult", "empirical_ntk", "linearize", "ntk_plan"]

IMPLEMENTATIONS = ("auto", "jacobian", "ntvp", "structured")


class NTKPlan(NamedTuple):
    """What :func:`empirical_ntk` does for a function.

    implementation: jacobian | ntvp | structured (what ``auto`` resolved to).
    structured: key paths of the parameters with a layer rule, each with its primitive and
      form, e.g. ``"['params']['Dense_0']['kernel']: dot_general (gram)"``.
    fallback: key paths of the parameters contracted through their Jacobians.
    """

    implementation: str
    structured: tuple[str, ...]
    fallback: tuple[str, ...]


class NTKResult(NamedTuple):
    """kernel: [n1, n2, *kept, *kept]; plan: the :class:`NTKPlan` used."""

    kernel: jax.Array
    plan: NTKPlan


def empirical_ntk(
    apply_fn: Callable,
    params,
    x1,
    x2=None,
    *,
    implementation: str = "auto",
    trace_axes: Sequence[int] | None = None,
    batch_size: int | None = None,
    return_plan: bool = False,
):
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
      return_plan: also return the :class:`NTKPlan` (host data: not from inside ``jax.jit``).
    Returns:
      [n1, n2, *kept, *kept]: kept = the output axes not traced ([n1, n2] by default);
      an :class:`NTKResult` ``(kernel, plan)`` with ``return_plan=True``.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation: unknown {implementation!r}; known: {', '.join(IMPLEMENTATIONS)}"
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size: must be a positive integer or None, got {batch_size!r}")
    fn = _Static(apply_fn)
    program, consts = _program(fn, params, x1)
    traced = _normalize_axes(trace_axes, len(program.out_shape))
    chosen = _resolve(implementation, program)
    kernel = _ntk(
        params,
        x1,
        x2,
        consts,
        fn=fn,
        program=program if chosen == "structured" else None,
        implementation=chosen,
        out_ndim=len(program.out_shape),
        traced=traced,
        batch_size=batch_size,
    )
    return NTKResult(kernel, _describe(program, params, chosen, traced)) if return_plan else kernel


def ntk_plan(
    apply_fn: Callable,
    params,
    x,
    implementation: str = "auto",
    trace_axes: Sequence[int] | None = None,
) -> NTKPlan:
    """The :class:`NTKPlan` of ``empirical_ntk(apply_fn, params, x, ...)`` (traces, computes nothing).

    Args:
      apply_fn, params, x: as :func:`empirical_ntk` (``x`` [n, ...]: only its shape matters).
      implementation: auto | jacobian | ntvp | structured; "auto" resolves to the one
        :func:`empirical_ntk` would use.
      trace_axes: as :func:`empirical_ntk`.
    Returns:
      :class:`NTKPlan`: the resolved implementation and the parameters' key paths split into
      structured (a layer rule) and fallback (through their Jacobians).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation: unknown {implementation!r}; known: {', '.join(IMPLEMENTATIONS)}"
        )
    program, _ = _program(_Static(apply_fn), params, x)
    chosen = _resolve(implementation, program)
    return _describe(program, params, chosen, _normalize_axes(trace_axes, len(program.out_shape)))


def linearize(apply_fn: Callable, params0) -> Callable:
    """First-order Taylor model around ``params0``, with the same signature as ``apply_fn``:

        f_lin(params, x) = f(params0, x) + J(x; params0) (params - params0)   (one JVP)

    Train it exactly like the network, e.g. ``train.run(train.mse(f_lin), params0, ...)``:
    its gradient is J(params0)^T r, so GD on it is kernel GD with the frozen NTK.

    Args:
      apply_fn: ``apply_fn(params, x, **kwargs) -> [n, *out]``.
      params0: the expansion point (pytree).
    Returns:
      ``f_lin(params, x, **kwargs) -> [n, *out]`` (the outputs of ``apply_fn``'s shape).
    """

    def apply_lin(params, x, **kwargs):
        f = lambda p: apply_fn(p, x, **kwargs)
        dp = jax.tree_util.tree_map(jnp.subtract, params, params0)
        f0, df = jax.jvp(f, (params0,), (dp,))
        return f0 + df

    return apply_lin


# ---------------------------------------------------------------- the traced program, cached


class _Static:
    """``apply_fn`` as a static argument of ``jax.jit``: equal for a ``functools.partial`` made
    anew with the same function and (hashable) arguments, else the function itself."""

    def __init__(self, fn):
        self.fn = fn
        self.key = _fn_key(fn)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Static) and self.key == other.key


def _fn_key(fn):
    if isinstance(fn, functools.partial):
        key = ("partial", _fn_key(fn.func), fn.args, tuple(sorted(fn.keywords.items())))
        try:
            hash(key)
            return key
        except TypeError:  # an array argument: the partial object itself
            pass
    try:
        hash(fn)
        return ("fn", fn)
    except TypeError:
        return ("id", id(fn), fn)


_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
_MAX_PROGRAMS = 128


def _program(fn: _Static, params, x):
    """(Plan, constants) of the per-example program, cached by function and shapes."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    key = (
        fn,
        treedef,
        tuple((jnp.shape(l), jnp.result_type(l)) for l in leaves),
        (jnp.shape(x)[1:], jnp.result_type(x)),
    )
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    closed = structured_rules.trace(fn.fn, params, x)
    entry = (structured_rules.plan(closed), list(closed.consts))
    if not any(isinstance(c, jax.core.Tracer) for c in entry[1]):  # closes over no traced value
        _PROGRAMS[key] = entry
        while len(_PROGRAMS) > _MAX_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    return entry


def _resolve(implementation: str, program) -> str:
    if implementation == "auto":
        return "structured" if program.sites else "jacobian"
    return implementation


def _describe(program, params, chosen: str, traced) -> NTKPlan:
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    kept = math.prod(program.out_shape[i] for i in range(len(program.out_shape)) if i not in traced)
    pairs = math.prod(program.out_shape[i] for i in traced) * kept * kept
    rules = tuple(
        f"{paths[s.leaf]}: {s.primitive.name} "
        f"({'gram' if structured_rules.gram_form(s, pairs) else 'gradient'})"
        for s in program.sites
    )
    return NTKPlan(chosen, rules, tuple(paths[f] for f in program.fallback))


@functools.partial(
    jax.jit, static_argnames=("fn", "program", "implementation", "out_ndim", "traced", "batch_size")
)
def _ntk(params, x1, x2, consts, *, fn, program, implementation, out_ndim, traced, batch_size):
    if implementation == "structured":
        return _structured(program, consts, params, x1, x2, out_ndim, traced, batch_size)
    x2 = x1 if x2 is None else x2
    block = functools.partial(
        _jacobian_block if implementation == "jacobian" else _ntvp_block,
        fn.fn,
        params,
        out_ndim=out_ndim,
        traced=traced,
    )
    return _blocked(block, x1, x2, batch_size)


def _structured(program, consts, params, x1, x2, out_ndim, traced, batch_size):
    leaves = jax.tree_util.tree_leaves(params)

    def factors(x):
        if batch_size is None or x.shape[0] <= batch_size:
            return structured_rules.factors(program, consts, leaves, x)
        chunks, n = _chunks(x, batch_size)
        out = jax.lax.map(lambda c: structured_rules.factors(program, consts, leaves, c), chunks)
        return jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:])[:n], out)

    f1 = factors(x1)
    f2 = f1 if x2 is None else factors(x2)
    return structured_rules.kernel(program, f1, f2, out_ndim, traced)


# ---------------------------------------------------------------- output axes and blocks


def _normalize_axes(trace_axes, out_ndim: int) -> tuple[int, ...]:
    if trace_axes is None:
        return tuple(range(out_ndim))
    axes = tuple(int(a) for a in trace_axes)
    if any(not -out_ndim <= a < out_ndim for a in axes):
        raise ValueError(
            f"trace_axes: axes of the per-example output (ndim {out_ndim}), got {trace_axes}"
        )
    axes = tuple(sorted({a % out_ndim for a in axes}))
    return axes


_contract = structured_rules.contract


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
    rows = jax.lax.map(
        lambda a: jax.lax.map(lambda b: block(a, b), c2), c1
    )  # [C1, C2, bs, bs, ...]
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
    basis = jnp.eye(max(math.prod(out_shape), 1), dtype=jax.eval_shape(f1, params).dtype).reshape(
        (-1,) + out_shape
    )

    def column(xj, e):  # Theta(x1, xj)_{., e} = J1 (J(xj)^T e)
        _, vjp = jax.vjp(lambda p: _single(apply_fn, p, xj), params)
        return jax.jvp(f1, (params,), vjp(e))[1]  # [n1, *out]

    cols = jax.vmap(lambda xj: jax.vmap(lambda e: column(xj, e))(basis))(x2)  # [n2, K, n1, *out]
    cols = cols.reshape((x2.shape[0],) + out_shape + (x1.shape[0],) + out_shape)
    out_a, out_b, kept = structured_rules._out_letters(
        out_ndim, traced, iter(string.ascii_letters[2:])
    )
    return jnp.einsum(f"b{out_b}a{out_a}->ab{kept}", cols)
