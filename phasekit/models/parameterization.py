"""abc-parameterizations of networks across widths (Tensor Programs IV / V), as data.

An MLP with L hidden layers of width n (TP4 section 3): each weight is a multiplier times a
trained array,

    W^l = n^{-a_l} w^l,     w^l_ij ~ N(0, n^{-2 b_l}) at init,     lr on w^l: eta * n^{-c_l}

(biases count as input-layer weights). Only two combinations per layer reach the function:

    init exponent   beta_l  = a_l + b_l          (std of W^l ~ n^{-beta_l})
    lr exponent     gamma_l = c_l + 2 a_l (SGD)   (SGD step on W^l ~ eta n^{-gamma_l} grad_W)
                    gamma_l = c_l + a_l   (Adam)  (Adam step on W^l ~ eta n^{-gamma_l} per entry)

so (a_l, b_l, c_l) -> (a_l + theta, b_l - theta, c_l - 2 theta) (SGD; c_l - theta for Adam)
leaves the whole training trajectory of the function unchanged (:func:`shift`).

Presets (TP4 Table; TP5 Table 3 for Adam), ``L`` hidden layers:

    name  a_1   a_l   a_{L+1}  b_1  b_l  b_{L+1}  c (SGD)
    sp    0     0     0        0    1/2  1/2      1 (0 diverges at large n)
    ntp   0     1/2   1/2      0    0    0        0
    mup   -1/2  0     1/2      1/2  1/2  1/2      0      (Adam: c = (1/2, 1, 1/2) per layer)
    mf    0     -     1        0    -    0        -1     (L = 1)

The TP4 classification (Def. 3.2, Thm 3.3) in the invariant exponents (:func:`classify`):

    r = min(beta_{L+1}, gamma_{L+1}) - 1 + min_{1 <= l <= L} [gamma_l + 1(l = 1)]
    stable at init:  beta_1 = 0,  beta_l = 1/2 (2 <= l <= L),  beta_{L+1} >= 1/2
    stable:          stable at init, r >= 0, beta_{L+1} + r >= 1, gamma_{L+1} >= 1
    nontrivial:      beta_{L+1} + r = 1  or  gamma_{L+1} = 1
    r = 0: feature learning;  r > 0: kernel regime (features frozen as n -> inf)

(with a uniform c this is TP4's r = min(a_{L+1}+b_{L+1}, 2a_{L+1}+c) + c - 1 + min_l[2a_l + 1(l=1)]).
The relative change of the hidden features after a fixed number of steps scales as n^{-r}.

For L = 1 the family meets the book's (alpha, beta1, beta2) of ch. 7 (:func:`to_two_layer`):
with a_1 = 0 (by the symmetry) and one lr for both layers,

    alpha = n^{(gamma_2 - gamma_1)/2},  beta1 = n^{-(beta_2 - (gamma_2 - gamma_1)/2)},  beta2 = n^{-beta_1}
    gamma_book = beta_1 + beta_2,        gamma'_book = beta_2 - beta_1 - (gamma_2 - gamma_1)/2

(NTP -> Table 7.1's NTK row, MF and muP -> the mean-field row, SP -> LeCun).

Any Flax model (or pytree of weights) gets a parameterization through *roles*, one per leaf
(:data:`ROLES`): "input" (fan-in fixed, fan-out n), "hidden" (fan-in n), "output" (fan-in n,
fan-out fixed), "bias" (a bias of a width-n layer: input-layer rules), "fixed" (nothing grows
with width, e.g. the output bias). Roles are inferred for Dense stacks (:func:`infer_roles`),
given as a pytree otherwise. The width n of each leaf is read from its shape: fan-out
(last axis) for input and bias leaves, fan-in (second to last) for hidden and output leaves.
From roles and an :class:`ABC`: :func:`init_std` / :func:`scaled_init`, :func:`multipliers`
applied in the model's own forward pass (:func:`with_multipliers`), and an optax
transformation scaling each leaf's update by n^{-c} (:func:`scale_updates`, :func:`optimizer`).

The deep phase diagram's slice (:func:`phase_slice`): muP's multipliers, hidden init exponents
pinned to 1/2 by stability at init, free (output init exponent, lr exponent c); with SP's or
NTP's multipliers every stable point of such a slice is in the kernel regime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "ABC",
    "Classification",
    "Parameterized",
    "apply_multipliers",
    "book",
    "book_exponents",
    "canonical",
    "classify",
    "clear_of_boundaries",
    "feature_exponent",
    "from_two_layer",
    "infer_roles",
    "init_exponents",
    "init_std",
    "labels",
    "lr_exponents",
    "lr_scales",
    "make",
    "mf",
    "multipliers",
    "mup",
    "ntp",
    "optimizer",
    "parameterize",
    "phase_slice",
    "preset",
    "role_exponents",
    "scale_updates",
    "scaled_init",
    "shift",
    "sp",
    "to_two_layer",
    "unit_init",
    "widths",
    "with_multipliers",
]

OPTIMIZERS = ("sgd", "adam")
PRESETS = ("sp", "ntp", "mup", "mf")
ROLES = ("input", "hidden", "output", "bias", "fixed")
REGIMES = ("unstable", "trivial", "kernel", "feature learning")
_TOL = 1e-9


class ABC(NamedTuple):
    """An abc-parameterization: per-layer exponents a, b, c (each a tuple of L + 1 numbers,
    layer 1 = input, L + 1 = output) and the optimizer the lr exponents c refer to."""

    a: tuple
    b: tuple
    c: tuple
    optimizer: str = "sgd"

    @property
    def depth(self) -> int:
        """Number of weight layers L + 1."""
        return len(self.a)


def make(a: Sequence[float], b: Sequence[float], c, optimizer: str = "sgd") -> ABC:
    """An :class:`ABC` from per-layer ``a``, ``b`` and ``c`` (a number: the same for every layer).
    ``optimizer``: "sgd" or "adam" (what c refers to)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    a, b = tuple(a), tuple(b)
    c = tuple(c) if np.ndim(c) else (c,) * len(a)
    if len(a) < 2 or len(b) != len(a) or len(c) != len(a):
        raise ValueError(
            f"a, b, c: need one value per layer (>= 2 layers), got {len(a)}, {len(b)}, {len(c)}"
        )
    return ABC(a, b, c, optimizer)


def _layers(L: int, first, mid, last):
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 1:
        raise ValueError(f"hidden_layers: must be an integer >= 1, got {L!r}")
    return (first,) + (mid,) * (L - 1) + (last,)


def sp(hidden_layers: int = 1, c: float = 1.0, optimizer: str = "sgd") -> ABC:
    """Standard parameterization (LeCun init, global lr n^{-c}; c = 1 is SP's stable lr for SGD).
    ``hidden_layers``: L; ``optimizer``: "sgd" or "adam"; returns the :class:`ABC` (L + 1 layers).
    """
    return make(
        _layers(hidden_layers, 0.0, 0.0, 0.0), _layers(hidden_layers, 0.0, 0.5, 0.5), c, optimizer
    )


def ntp(hidden_layers: int = 1, optimizer: str = "sgd") -> ABC:
    """NTK parameterization: unit-variance weights, multipliers n^{-1/2} past the input layer, one
    global lr (c = 0, for SGD and Adam alike). ``hidden_layers``: L; ``optimizer``: "sgd" or "adam";
    returns the :class:`ABC` (L + 1 layers)."""
    return make(_layers(hidden_layers, 0.0, 0.5, 0.5), (0.0,) * (hidden_layers + 1), 0.0, optimizer)


def mup(hidden_layers: int = 1, optimizer: str = "sgd") -> ABC:
    """Maximal-update parameterization (TP4 Table / TP5 Table 3).

    SGD: c = 0. Adam: effective per-entry steps ~ (1, 1/n, 1/n) for input, hidden, output weights
    (TP5 Table 3), i.e. c_l = gamma_l - a_l = (1/2, 1, 1/2). ``hidden_layers``: L; ``optimizer``:
    "sgd" or "adam"; returns the :class:`ABC` (L + 1 layers)."""
    a = _layers(hidden_layers, -0.5, 0.0, 0.5)
    c = 0.0 if optimizer == "sgd" else _layers(hidden_layers, 0.5, 1.0, 0.5)
    return make(a, (0.5,) * (hidden_layers + 1), c, optimizer)


def mf(optimizer: str = "sgd") -> ABC:
    """Mean-field parameterization of a two-layer net: output multiplier 1/n, SGD lr n.
    ``optimizer``: "sgd" or "adam"; returns the :class:`ABC` (2 layers)."""
    if optimizer != "sgd":
        raise ValueError("optimizer: the mean-field preset is defined for SGD")
    return make((0.0, 1.0), (0.0, 0.0), -1.0)


def preset(name: str, hidden_layers: int = 1, optimizer: str = "sgd", **kw) -> ABC:
    """One of :data:`PRESETS` by name (``mf`` needs ``hidden_layers = 1``); ``optimizer``: "sgd" or
    "adam"; ``kw``: to the preset (e.g. SP's ``c``)."""
    if name == "sp":
        return sp(hidden_layers, optimizer=optimizer, **kw)
    if name == "ntp":
        return ntp(hidden_layers, optimizer)
    if name == "mup":
        return mup(hidden_layers, optimizer)
    if name == "mf":
        if hidden_layers != 1:
            raise ValueError(
                f"hidden_layers: the mean-field preset has one hidden layer, got {hidden_layers}"
            )
        return mf(optimizer)
    raise ValueError(f"preset: unknown {name!r}; known: {', '.join(PRESETS)}")


def book(gamma: float, gamma_prime: float) -> ABC:
    """The two-layer net at the book's (gamma, gamma') (spec 01, ch. 7) with phasekit's choice
    alpha = 1, beta1 = n^{-(gamma+gamma')/2}, beta2 = n^{(gamma'-gamma)/2}, one SGD lr
    (``gamma``, ``gamma_prime`` = gamma'); returns the L = 1 :class:`ABC`."""
    return make((0.0, 0.0), ((gamma - gamma_prime) / 2, (gamma + gamma_prime) / 2), 0.0)


# ----------------------------------------------------------------------------- exponents


def shift(p: ABC, theta) -> ABC:
    """The exact symmetry (a, b, c) -> (a + theta, b - theta, c - 2 theta) (Adam: c - theta),
    per layer (``theta`` a number or one per layer): same function trajectory. Returns the
    shifted :class:`ABC` of ``p``."""
    th = np.broadcast_to(np.asarray(theta, float), (p.depth,))
    k = 2.0 if p.optimizer == "sgd" else 1.0
    return ABC(
        tuple(x + t for x, t in zip(p.a, th)),
        tuple(x - t for x, t in zip(p.b, th)),
        tuple(x - k * t for x, t in zip(p.c, th)),
        p.optimizer,
    )


def init_exponents(p: ABC) -> np.ndarray:
    """beta_l = a_l + b_l: the effective init std of W^l is n^{-beta_l}, [L + 1]. ``p``: an
    :class:`ABC`."""
    return np.add(p.a, p.b)


def lr_exponents(p: ABC) -> np.ndarray:
    """gamma_l: the effective step on W^l is eta n^{-gamma_l} times grad_W (SGD: c + 2a) or
    per entry (Adam: c + a), [L + 1], of the :class:`ABC` ``p``."""
    return np.add(p.c, np.multiply(2.0 if p.optimizer == "sgd" else 1.0, p.a))


def canonical(p: ABC) -> ABC:
    """The equivalent parameterization with a_l = 0 in every layer (all scale in init and lr).
    ``p``: an :class:`ABC`."""
    return shift(p, -np.asarray(p.a, float))


class Classification(NamedTuple):
    """TP4's classification of an abc-parameterization (SGD) (:func:`classify`).

    Fields: ``r`` the feature exponent (:func:`feature_exponent`); ``stable_at_init`` (beta_1 = 0,
    hidden beta_l = 1/2, beta_{L+1} >= 1/2); ``stable`` (also r >= 0, beta_{L+1} + r >= 1 and
    gamma_{L+1} >= 1); ``nontrivial`` (beta_{L+1} + r = 1 or gamma_{L+1} = 1); ``regime``:
    "unstable" | "trivial" | "kernel" | "feature learning".
    """

    r: float
    stable_at_init: bool
    stable: bool
    nontrivial: bool
    regime: str


def feature_exponent(p: ABC) -> float:
    """TP4's r (Def. 3.2) in invariant form (see the module docstring); the relative feature
    change after a fixed number of steps scales as n^{-r}. ``p``: an :class:`ABC` (SGD)."""
    if p.optimizer != "sgd":
        raise ValueError("optimizer: TP4's classification is stated for SGD")
    beta, gam = init_exponents(p), lr_exponents(p)
    inner = gam[:-1] + (np.arange(p.depth - 1) == 0)
    return float(min(beta[-1], gam[-1]) - 1.0 + inner.min())


def classify(p: ABC, tol: float = _TOL) -> Classification:
    """TP4 Thm 3.3 for SGD: stable iff stable at init, r >= 0, beta_{L+1} + r >= 1 and
    gamma_{L+1} >= 1; nontrivial iff beta_{L+1} + r = 1 or gamma_{L+1} = 1; then feature
    learning iff r = 0, kernel regime iff r > 0. ``p``: the :class:`ABC` (SGD); ``tol``: the
    tolerance of the equalities; returns the :class:`Classification`."""
    r = feature_exponent(p)
    beta, gam = init_exponents(p), lr_exponents(p)
    at_init = bool(
        abs(beta[0]) <= tol and np.all(np.abs(beta[1:-1] - 0.5) <= tol) and beta[-1] >= 0.5 - tol
    )
    stable = at_init and r >= -tol and beta[-1] + r >= 1 - tol and gam[-1] >= 1 - tol
    nontrivial = bool(abs(beta[-1] + r - 1) <= tol or abs(gam[-1] - 1) <= tol)
    regime = (
        "unstable"
        if not stable
        else "trivial"
        if not nontrivial
        else "feature learning"
        if abs(r) <= tol
        else "kernel"
    )
    return Classification(r, at_init, bool(stable), nontrivial, regime)


# ----------------------------------------------------------------------------- the deep phase diagram's slice


def phase_slice(beta_out, c, hidden_layers: int) -> ABC:
    """The slice of the abc space the phase diagram spans: muP's multipliers a = (-1/2, 0.., 1/2),
    hidden init exponents pinned by stability at init (b = 1/2), the output's init exponent
    a_{L+1} + b_{L+1} = ``beta_out`` and one SGD lr exponent ``c`` (muP: beta_out = 1, c = 0);
    ``hidden_layers``: L; returns the :class:`ABC`."""
    L = hidden_layers
    return ABC(
        (-0.5,) + (0.0,) * (L - 1) + (0.5,), (0.5,) * L + (beta_out - 0.5,), (c,) * (L + 1), "sgd"
    )


def clear_of_boundaries(beta_out, c, hidden_layers: int, margin: float = 0.1) -> bool:
    """TP4's regime at (beta_out, c) equals its regime at (beta_out +- margin, c) and, off the
    feature-learning line (itself the boundary between kernel and unstable in c), at
    (beta_out, c +- margin). ``hidden_layers``: L of :func:`phase_slice`."""
    reg = classify(phase_slice(beta_out, c, hidden_layers)).regime
    moves = [(margin, 0.0), (-margin, 0.0)] + (
        [] if reg == "feature learning" else [(0.0, margin), (0.0, -margin)]
    )
    return all(
        classify(phase_slice(beta_out + db, c + dc, hidden_layers)).regime == reg
        for db, dc in moves
    )


# ----------------------------------------------------------------------------- the book's two-layer map


def to_two_layer(p: ABC, width: int, input_dim: int = 1) -> tuple[float, float, float, float]:
    """(alpha, beta1, beta2, lr_scale) of the book's two-layer net (``two_layer.apply``) equal to
    the L = 1 abc-net ``p`` at width ``width``, with the book's one lr eta * lr_scale on (a, w).

    The input layer keeps the init's fan-in factor input_dim^{-1/2} (:func:`init_std`), so SP
    with ``input_dim = d`` is Table 7.1's LeCun row exactly.
    """
    if p.depth != 2 or p.optimizer != "sgd":
        raise ValueError("p: the book's map is for two-layer nets (one hidden layer) under SGD")
    beta, gam = init_exponents(p), lr_exponents(p)
    m, a2 = float(width), (gam[1] - gam[0]) / 2
    return (m**a2, m ** -(beta[1] - a2), m ** -beta[0] * input_dim**-0.5, m ** -gam[0])


def from_two_layer(
    alpha, beta1, beta2, width: int, lr_scale: float = 1.0, input_dim: int = 1
) -> ABC:
    """The abc-exponents (a_1 = 0) of the book's net at one width: the inverse of :func:`to_two_layer`.

    Args:
      alpha, beta1, beta2: the book's scales at width ``width``
        (:func:`phasekit.models.two_layer.preset`).
      width: n;  lr_scale: the book's lr factor on (a, w);  input_dim: the init's fixed fan-in.
    Returns:
      The L = 1 :class:`ABC` (SGD).
    """
    lm = math.log(width)
    if lm <= 0:
        raise ValueError(f"width: must be > 1 to read exponents, got {width!r}")
    c = -math.log(lr_scale) / lm
    b1 = -(math.log(beta2) + 0.5 * math.log(input_dim)) / lm
    return make((0.0, math.log(alpha) / lm), (b1, -math.log(beta1) / lm), c)


def book_exponents(p: ABC) -> tuple[float, float]:
    """The book's (gamma, gamma') of an L = 1 abc-net (n -> inf, input_dim fixed). ``p``: an
    :class:`ABC`."""
    if p.depth != 2 or p.optimizer != "sgd":
        raise ValueError("p: the book's (gamma, gamma') are for two-layer nets under SGD")
    beta, gam = init_exponents(p), lr_exponents(p)
    return float(beta[0] + beta[1]), float(beta[1] - beta[0] - (gam[1] - gam[0]) / 2)


# ----------------------------------------------------------------------------- roles of a pytree


def role_exponents(p: ABC) -> dict[str, tuple]:
    """(a, b, c) per role: input = layer 1, hidden = layers 2..L (which must agree), output =
    layer L + 1, bias = layer 1 (TP4: biases are input-layer weights), fixed = (0, 0, 0), of the
    :class:`ABC` ``p``."""
    layers = list(zip(p.a, p.b, p.c))
    hidden = layers[1:-1]
    concrete = not any(isinstance(v, jax.core.Tracer) for h in hidden for v in h)
    if concrete and any(not np.allclose(h, hidden[0]) for h in hidden):
        raise ValueError("p: hidden layers differ; roles give every hidden leaf one rule")
    out = {"input": layers[0], "output": layers[-1], "bias": layers[0], "fixed": (0.0, 0.0, 0.0)}
    if hidden:
        out["hidden"] = hidden[0]
    return out


def _ordered_leaves(tree, path=()):
    """(path, leaf) in insertion order of dicts (jax's flatten sorts keys: Dense_10 < Dense_2)."""
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from _ordered_leaves(v, path + (k,))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _ordered_leaves(v, path + (i,))
    else:
        yield path, tree


def _set(tree, path, value):
    if not path:
        return value
    k, rest = path[0], path[1:]
    if isinstance(tree, Mapping):
        return {**tree, k: _set(tree[k], rest, value)}
    out = list(tree)
    out[k] = _set(tree[k], rest, value)
    return type(tree)(out) if isinstance(tree, tuple) else out


def infer_roles(params) -> Any:
    """Roles of a Dense stack: a Flax ``{"params": {"Dense_0": {"kernel", "bias"}, ...}}`` (or
    ``nn.Sequential``'s ``layers_i``) or phasekit's :mod:`~phasekit.models.mlp` list of
    ``{"w", "b"}``. Layers in call order: the first kernel "input", the last "output", the
    others "hidden"; biases "bias", the last layer's bias "fixed". Anything else: give roles.
    """
    leaves = list(_ordered_leaves(params))
    kernels = [i for i, (path, v) in enumerate(leaves) if path and path[-1] in ("kernel", "w")]
    if len(kernels) < 2:
        raise ValueError(
            "params: not a Dense stack (need >= 2 kernels named 'kernel' or 'w'); give roles"
        )
    roles = jax.tree_util.tree_map(lambda _: None, params)
    last_layer = leaves[kernels[-1]][0][:-1]
    for i, (path, v) in enumerate(leaves):
        name = path[-1] if path else None
        if name in ("kernel", "w"):
            if np.ndim(v) != 2:
                raise ValueError(
                    f"params: {'/'.join(map(str, path))} is not a Dense kernel (shape "
                    f"{np.shape(v)}); give roles for non-Dense models"
                )
            role = "input" if i == kernels[0] else "output" if i == kernels[-1] else "hidden"
        elif name in ("bias", "b"):
            role = "fixed" if path[:-1] == last_layer else "bias"
        else:
            raise ValueError(
                f"params: unknown leaf {'/'.join(map(str, path))} in a Dense stack; give roles"
            )
        roles = _set(roles, path, role)
    return roles


def _check_roles(roles, params):
    rl, rdef = jax.tree_util.tree_flatten(roles)
    pl, pdef = jax.tree_util.tree_flatten(params)
    if rdef != pdef:
        raise ValueError(f"roles: must have the structure of params ({pdef}), got {rdef}")
    bad = [r for r in rl if r not in ROLES]
    if bad:
        raise ValueError(f"roles: unknown role {bad[0]!r}; known: {', '.join(ROLES)}")
    for r, v in zip(rl, pl):
        if r in ("input", "hidden", "output") and np.ndim(v) < 2:
            raise ValueError(
                f"roles: a {r} leaf needs a kernel of >= 2 axes, got shape {np.shape(v)}"
            )
    return rl, pl, pdef


def _width(role, shape) -> int:
    if role in ("input", "bias"):
        return int(shape[-1])
    if role in ("hidden", "output"):
        return int(shape[-2])
    return 1


def widths(params, roles) -> Any:
    """Width n of every leaf, read from its shape: fan-out for input/bias, fan-in for
    hidden/output, 1 for fixed (a pytree of ints).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
    """
    rl, pl, pdef = _check_roles(roles, params)
    return jax.tree_util.tree_unflatten(pdef, [_width(r, np.shape(v)) for r, v in zip(rl, pl)])


def _fixed_fan_in(role, shape) -> int:
    """The part of a kernel's fan-in that does not grow with width (input dim, receptive field)."""
    if np.size(shape) < 2:
        return 1
    fan_in = int(np.prod(shape[:-1]))
    return fan_in // int(shape[-2]) if role in ("hidden", "output") else fan_in


def _pow(n, e):
    return jnp.power(float(n), -e) if isinstance(e, jax.Array) else float(n) ** -float(e)


def _per_leaf(params, roles, p: ABC, fn):
    rl, pl, pdef = _check_roles(roles, params)
    ex = role_exponents(p)
    if "hidden" in rl and "hidden" not in ex:
        raise ValueError("roles: a hidden leaf, but p has no hidden layer (L = 1)")
    return jax.tree_util.tree_unflatten(pdef, [fn(r, np.shape(v), ex[r]) for r, v in zip(rl, pl)])


def init_std(params, roles, p: ABC, bias_std: float = 1.0) -> Any:
    """Per-leaf init std of the *trained* array w: n^{-b} / sqrt(fixed fan-in) (bias and 1-axis
    fixed leaves: ``bias_std`` n^{-b}); the effective W = n^{-a} w then has std n^{-(a+b)}
    / sqrt(fixed fan-in). SP is LeCun init exactly.

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      p: the :class:`ABC`;  bias_std: the std scale of bias leaves.
    Returns:
      A pytree like params of floats.
    """

    def std(role, shape, abc):
        base = bias_std if len(shape) < 2 else _fixed_fan_in(role, shape) ** -0.5
        return base * _pow(_width(role, shape), abc[1])

    return _per_leaf(params, roles, p, std)


def multipliers(params, roles, p: ABC) -> Any:
    """Per-leaf multipliers n^{-a} (the output multiplier among them).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      p: the :class:`ABC`.
    Returns:
      A pytree like params of floats.
    """
    return _per_leaf(params, roles, p, lambda role, shape, abc: _pow(_width(role, shape), abc[0]))


def lr_scales(params, roles, p: ABC) -> Any:
    """Per-leaf factors n^{-c} of the optimizer's update (the table's lr rule on w).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      p: the :class:`ABC`.
    Returns:
      A pytree like params of floats.
    """
    return _per_leaf(params, roles, p, lambda role, shape, abc: _pow(_width(role, shape), abc[2]))


def unit_init(key, params) -> Any:
    """N(0, 1) arrays with the shapes and dtypes of ``params``. ``key``: PRNG key; returns a pytree
    like ``params``."""
    leaves, tdef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        tdef, [jax.random.normal(k, jnp.shape(v), jnp.result_type(v)) for k, v in zip(keys, leaves)]
    )


def scaled_init(key, params, roles, p: ABC, bias_std: float = 1.0) -> Any:
    """Fresh trained arrays w ~ N(0, init_std^2) with the shapes of ``params``.

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      key: PRNG key;  p: the :class:`ABC`;  bias_std: as :func:`init_std`.
    Returns:
      A pytree like params (same dtypes).
    """
    return jax.tree_util.tree_map(
        lambda s, u: s * u, init_std(params, roles, p, bias_std), unit_init(key, params)
    )


def apply_multipliers(params, mult) -> Any:
    """W = n^{-a} w leaf by leaf. ``params``: the trained arrays w; ``mult``: a pytree like them of
    n^{-a} (:func:`multipliers`); returns the effective weights W, same structure."""
    return jax.tree_util.tree_map(lambda m, w: m * w, mult, params)


def with_multipliers(apply_fn: Callable, mult) -> Callable:
    """``apply(w, x, ...) = apply_fn(n^{-a} w, x, ...)``: the multipliers enter the model's own
    forward pass through its weights (no second copy of the forward pass). ``mult``: the per-leaf
    multipliers of :func:`multipliers`; returns the wrapped ``apply``."""

    def apply(params, *args, **kwargs):
        return apply_fn(apply_multipliers(params, mult), *args, **kwargs)

    return apply


def labels(params, roles) -> Any:
    """Partition labels "role@n" (leaves of one role and width share one update scale).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
    Returns:
      A pytree like params of strings.
    """
    w = widths(params, roles)
    return jax.tree_util.tree_map(lambda r, n: f"{r}@{n}", roles, w)


def scale_updates(params, roles, p: ABC) -> optax.GradientTransformation:
    """optax transformation multiplying each leaf's update by its role's n^{-c}, through optax's
    partitioning (``optax.partition``: one ``optax.scale`` per role and width).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      p: the :class:`ABC` (its c exponents).
    """
    lab = labels(params, roles)
    scales = lr_scales(params, roles, p)
    table = {}
    for l, s in zip(jax.tree_util.tree_leaves(lab), jax.tree_util.tree_leaves(scales)):
        table[l] = s
    return optax.partition({l: optax.scale(s) for l, s in table.items()}, lab)


def optimizer(lr, params, roles, p: ABC, **kwargs) -> optax.GradientTransformation:
    """``optax.sgd(lr)`` or ``optax.adam(lr, **kwargs)`` (from ``p.optimizer``) followed by
    :func:`scale_updates`: the step on leaf w is lr n^{-c} grad (SGD) or lr n^{-c} m/sqrt(v) (Adam).

    Args:
      params: the model's parameter pytree (only shapes are read).
      roles: a pytree like params of role names (:data:`ROLES`; :func:`infer_roles`).
      lr: the base learning rate eta;  p: the :class:`ABC`;  kwargs: to ``optax.adam``.
    """
    base = optax.sgd(lr, **kwargs) if p.optimizer == "sgd" else optax.adam(lr, **kwargs)
    return optax.chain(base, scale_updates(params, roles, p))


class Parameterized(NamedTuple):
    """A model under a parameterization: ``apply(w, x)`` with the multipliers inside, the
    trained arrays ``params`` at init, and ``optimizer(lr)`` with the per-leaf lr rules."""

    apply: Callable
    params: Any
    optimizer: Callable
    multipliers: Any


def parameterize(
    key, apply_fn: Callable, template, p: ABC, roles=None, bias_std: float = 1.0
) -> Parameterized:
    """Everything :func:`scaled_init`, :func:`with_multipliers` and :func:`optimizer` give, for a
    model ``apply_fn(params, x)`` whose parameters have the shapes of ``template``; ``roles``:
    a pytree of role names (None: :func:`infer_roles`).

    Args:
      key: PRNG key of the init;  apply_fn: ``apply_fn(params, x) -> outputs``.
      template: a parameter pytree of the model (shapes only);  p: the :class:`ABC`.
      roles: a pytree of role names, or None;  bias_std: as :func:`init_std`.
    Returns:
      :class:`Parameterized` (apply, params, optimizer).
    """
    roles = infer_roles(template) if roles is None else roles
    mult = multipliers(template, roles, p)
    params = scaled_init(key, template, roles, p, bias_std)
    return Parameterized(
        with_multipliers(apply_fn, mult),
        params,
        lambda lr, **kw: optimizer(lr, template, roles, p, **kw),
        mult,
    )
