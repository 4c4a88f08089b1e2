"""Optimistic sample sizes in closed form, and "optimistic" points of a target set (book ch. 10).

The optimistic sample size of a target f* is R(f*) = min_{theta in target set} R(theta), the
model rank at the best point representing f*. Closed forms (checked numerically against
:func:`phasekit.theory.rank.model_rank` in the tests):

    linear model, k params                   k
    f_NL = t0 + t1 x1 + t2 t3 x2             2 if f* in span{1, x1}, else 3
    two-layer sigma net, no bias             k (d + 1)        (k = intrinsic width of f*)
    two-layer net with bias                  k (d + 2)        (bias = a (d+1)-th input weight)
    matrix factorization A B, rank-r target  2 r d - r^2      (M_I = d^2)
    CNN (book Table 10.1), per kernel        s^D + (d+1-s)^D
    CNN without weight sharing               (s^D + 1) (k (d+1-s)^D - m_null)
    fully connected, (d+1-s)^D neurons/kernel (d^D + 1) (k (d+1-s)^D - m_null)

D = 1 (1-D input of length d) or 2 (image of side d), kernel side s, k kernels,
m_null = number of zero output weights (neurons the target does not use) at the optimistic
point. Neither CNN formula counts biases.

The models of the recovery experiments (Fig 10.1, Fig 10.3) are defined here next to their
optimistic points, so a point and the model it lives in always agree on the parameter layout:
:func:`fnl_family_apply` (f_L, f_NL) and :func:`conv_model` (CNN, CNN without sharing, FC), with
:func:`conv_teacher_point` writing the book's teacher f*(x) = W2 tanh(W1 x) (kernel
[0.6, 0.8, 1], :func:`banded_matrix`) in each architecture.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from phasekit.models import conv1d
from phasekit.models import two_layer as two_layer_net
from phasekit.models._checks import positive_int

__all__ = [
    "affine_apply",
    "banded_matrix",
    "cnn",
    "cnn_no_sharing",
    "conv_model",
    "conv_sample_size",
    "conv_teacher",
    "conv_teacher_point",
    "cross_condition",
    "embed_in_wider",
    "f_nl",
    "f_nl_point",
    "fnl_family_apply",
    "fnl_sample_size",
    "fully_connected",
    "linear",
    "matrix_factorization",
    "matrix_factorization_point",
    "optimistic_sample_size",
    "two_layer",
    "two_layer_point",
]


def _nonneg_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{name}: must be a non-negative integer, got {v!r}")
    return int(v)


def linear(k: int) -> int:
    """f = sum_i theta_i phi_i(x): rank k at every theta."""
    return positive_int("k", k)


def f_nl(coef_x2: float) -> int:
    """f_NL = t0 + t1 x1 + t2 t3 x2 for f* = c0 + c1 x1 + c2 x2: 2 if c2 == 0 (t2 = t3 = 0), else 3."""
    return 2 if coef_x2 == 0 else 3


def two_layer(k: int, d: int, bias: bool = False) -> int:
    """sum_j a_j sigma(w_j . x (+ b_j)), x in R^d, intrinsic width k: k (d + 1), or k (d + 2) with bias.

    Convention: d is the raw input dimension; a bias is one more input weight, so a neuron
    has d + 1 (no bias) or d + 2 (bias) independent tangent functions.
    """
    return positive_int("k", k) * (positive_int("d", d) + (2 if bias else 1))


def matrix_factorization(d: int, r: int) -> int:
    """A B with A, B in R^{d x d}, rank-r target: 2 r d - r^2 (dimension of rank-r d x d matrices)."""
    positive_int("d", d)
    if not 0 <= _nonneg_int("r", r) <= d:
        raise ValueError(f"r: must be in [0, {d}], got {r}")
    return 2 * r * d - r * r


def _positions(d, s, ndim):
    positive_int("d", d)
    positive_int("s", s)
    if s > d:
        raise ValueError(f"s: kernel side must be <= d={d}, got {s}")
    if ndim not in (1, 2):
        raise ValueError(f"ndim: 1 or 2, got {ndim!r}")
    return (d + 1 - s) ** ndim


def cnn(d: int, s: int, k: int = 1, ndim: int = 2) -> int:
    """CNN with weight sharing, k kernels: k (s^D + (d+1-s)^D) (kernel + output weights).

    ``d``: input size per spatial axis; ``s``: kernel size; ``k``: kernels of the target;
    ``ndim``: D, the number of spatial axes. Returns the count (an int).
    """
    P = _positions(d, s, ndim)
    return positive_int("k", k) * (s**ndim + P)


def cnn_no_sharing(d: int, s: int, k: int = 1, m_null: int = 0, ndim: int = 2) -> int:
    """Locally connected net: (s^D + 1) (k (d+1-s)^D - m_null).

    ``d``: input size per spatial axis; ``s``: kernel size; ``k``: kernels of the target;
    ``ndim``: D, the number of spatial axes. Returns the count (an int).
    ``m_null``: zero output weights (neurons the target does not use) at the point.
    """
    P = _positions(d, s, ndim)
    n = positive_int("k", k) * P - _nonneg_int("m_null", m_null)
    if n < 0:
        raise ValueError(f"m_null: at most k (d+1-s)^D = {n + m_null}, got {m_null}")
    return (s**ndim + 1) * n


def fully_connected(d: int, s: int, k: int = 1, m_null: int = 0, ndim: int = 2) -> int:
    """Fully connected net with (d+1-s)^D neurons per kernel: (d^D + 1) (k (d+1-s)^D - m_null).

    ``d``: input size per spatial axis; ``s``: kernel size; ``k``: kernels of the target;
    ``ndim``: D, the number of spatial axes. Returns the count (an int).
    ``m_null``: zero output weights (neurons the target does not use) at the point.
    """
    P = _positions(d, s, ndim)
    n = positive_int("k", k) * P - _nonneg_int("m_null", m_null)
    if n < 0:
        raise ValueError(f"m_null: at most k (d+1-s)^D = {n + m_null}, got {m_null}")
    return (d**ndim + 1) * n


# ---- optimistic points of a target set -------------------------------------------------


def embed_in_wider(params, width: int):
    """Teacher of width k inside a width-``width`` model: zero-pad axis 0 of every leaf.

    For :mod:`phasekit.models.two_layer` params (``a``: [k], ``w``: [k, d], ``b``: [k]) and
    :mod:`phasekit.models.conv1d` params (kernel axis first) the extra neurons/kernels get
    a = 0 and w = 0, so their tangent functions vanish: the optimistic point of the target
    set, where R = k (d + 1) (two-layer, no bias).
    """
    positive_int("width", width)
    leaves = jax.tree_util.tree_leaves(params)
    k = leaves[0].shape[0]
    if any(leaf.shape[0] != k for leaf in leaves) or width < k:
        raise ValueError(f"width: need >= teacher width {k} and a shared neuron axis 0")
    return jax.tree_util.tree_map(
        lambda a: jnp.concatenate([a, jnp.zeros((width - k,) + a.shape[1:], a.dtype)]), params
    )


two_layer_point = embed_in_wider


def matrix_factorization_point(target, r: int | None = None, rtol: float = 1e-10) -> dict:
    """Optimistic point (A, B) of a rank-r target M* in R^{d x d}: A B = M*.

    With M* = U S V^T: A = [U_r S_r^{1/2}, 0], B = [S_r^{1/2} V_r^T; 0] (zero columns of A and
    zero rows of B past r); the tangent space {dA B + A dB} then has dimension 2 r d - r^2.
    ``r`` defaults to the numerical rank of M* (singular values > rtol * sigma_1).
    """
    target = np.asarray(target, dtype=np.float64)
    if target.ndim != 2 or target.shape[0] != target.shape[1]:
        raise ValueError(f"target: expected a square [d, d] matrix, got shape {target.shape}")
    d = target.shape[0]
    U, S, Vt = np.linalg.svd(target)
    if r is None:
        r = int(np.sum(S > rtol * S[0])) if S[0] > 0 else 0
    if not 0 <= _nonneg_int("r", r) <= d:
        raise ValueError(f"r: must be in [0, {d}], got {r}")
    root = np.sqrt(S[:r])
    A = np.zeros((d, d))
    B = np.zeros((d, d))
    A[:, :r] = U[:, :r] * root
    B[:r] = root[:, None] * Vt[:r]
    return {"A": A, "B": B}  # numpy float64: keeps the point exact for model_rank


def cross_condition(target, r: int) -> float:
    """Condition number sigma_1 / sigma_r of the leading r x r block W = M*[:r, :r] (inf if W is
    singular): how well the "cross" of the first r rows and r columns (2 r d - r^2 entries, the
    authors' fixed observed sets of Fig 10.2) pins a rank-r target down. For rank r with W
    invertible the cross determines M* = C W^{-1} R (C = M*[:, :r], R = M*[:r, :]); the larger
    the condition number, the closer the cross is to a set that does not determine M*.

    Args:
      target: [d, d] matrix; r: rank (1 <= r <= d).
    Returns:
      a float >= 1 (host-side numpy, float64).
    """
    target = np.asarray(target, dtype=np.float64)
    if target.ndim != 2 or target.shape[0] != target.shape[1]:
        raise ValueError(f"target: expected a square [d, d] matrix, got shape {target.shape}")
    d = target.shape[0]
    if not 1 <= _nonneg_int("r", r) <= d:
        raise ValueError(f"r: must be in [1, {d}], got {r}")
    s = np.linalg.svd(target[:r, :r], compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def f_nl_point(c0: float, c1: float, c2: float) -> np.ndarray:
    """Optimistic point of f* = c0 + c1 x1 + c2 x2 for f_NL: (c0, c1, 0, 0) if c2 == 0, else
    (c0, c1, sqrt|c2|, sign(c2) sqrt|c2|)."""
    t = np.sqrt(abs(c2))
    return np.asarray([c0, c1, t, np.sign(c2) * t])


# ---- the models of the recovery experiments and their optimistic points ---------------

FNL_MODELS = ("f_L", "f_NL")
# Fig 10.1's targets f* = c0 + c1 x1 + c2 x2 by name: (c0, c1, c2)
FNL_TARGETS = {
    "1": (1.0, 0.0, 0.0),
    "x1": (0.0, 1.0, 0.0),
    "1+x1": (1.0, 1.0, 0.0),
    "x2": (0.0, 0.0, 1.0),
    "1+x2": (1.0, 0.0, 1.0),
    "x1+x2": (0.0, 1.0, 1.0),
    "1+x1+x2": (1.0, 1.0, 1.0),
}


def affine_apply(theta: jax.Array, x: jax.Array) -> jax.Array:
    """f_L(x) = t0 + t1 x1 + t2 x2 (``x: [n, 2]`` -> [n]): the linear model of Fig 10.1."""
    return theta[0] + x @ theta[1:]


def fnl_family_apply(theta: jax.Array, x: jax.Array, nonlinear) -> jax.Array:
    """Fig 10.1's two models as one function of theta = (t0, t1, t2, t3), ``x: [n, 2]`` -> [n]:
    f_NL = t0 + t1 x1 + t2 t3 x2 if ``nonlinear`` else f_L = t0 + t1 x1 + t2 x2 (t3 unused: its
    tangent function is 0, so the rank of f_L is still 3). ``nonlinear`` may be traced, so one
    compiled program trains both models."""
    return (
        theta[0]
        + theta[1] * x[:, 0]
        + jnp.where(nonlinear, theta[2] * theta[3], theta[2]) * x[:, 1]
    )


def fnl_sample_size(model: str, coef) -> int:
    """Optimistic size of f* = c0 + c1 x1 + c2 x2: 3 for f_L (a linear model), :func:`f_nl` for f_NL."""
    if model not in FNL_MODELS:
        raise ValueError(f"model: one of {', '.join(FNL_MODELS)}, got {model!r}")
    return linear(3) if model == "f_L" else f_nl(float(coef[2]))


CONV_ARCHITECTURES = ("cnn", "cnn_no_sharing", "fc")
CONV_KERNEL = (0.6, 0.8, 1.0)  # book Fig 10.3: the teacher kernel
CONV_INPUT_DIM = 5  # the book's W1 is 3 x 5 (its text says x in R^4)


def banded_matrix(kernel, d: int) -> np.ndarray:
    """W1 [P, d] of a kernel sliding over x in R^d (P = d + 1 - s positions): row p holds the
    kernel at columns p..p+s-1, so tanh(W1 x)_p = tanh(K . x[p:p+s]). For the book's kernel
    [0.6, 0.8, 1] and d = 5: [[.6, .8, 1, 0, 0], [0, .6, .8, 1, 0], [0, 0, .6, .8, 1]]."""
    kernel = np.asarray(kernel, dtype=np.float64)
    P = conv1d.n_positions(d, kernel.size)
    W = np.zeros((P, d))
    for p in range(P):
        W[p, p : p + kernel.size] = kernel
    return W


def _check_arch(arch):
    if arch not in CONV_ARCHITECTURES:
        raise ValueError(f"arch: one of {', '.join(CONV_ARCHITECTURES)}, got {arch!r}")


def _tanh_net(params, x):
    return two_layer_net.apply(params, x, "tanh")


def conv_model(arch: str, width: int, d: int = CONV_INPUT_DIM, s: int = len(CONV_KERNEL)):
    """(init(key) -> unit-scale params, apply(params, x)) of Fig 10.3's architectures, ``width``
    times wider than the teacher: "cnn" (``width`` shared kernels, :mod:`phasekit.models.conv1d`),
    "cnn_no_sharing" (``width`` kernels, one per position) and "fc" (tanh two-layer net with
    ``width * P`` neurons, no bias).

    ``arch``: "cnn" | "cnn_no_sharing" | "fc"; ``d``: input dimension; ``s``: kernel size
    (P = d + 1 - s positions). The apply takes x [n, d] and returns [n].
    """
    _check_arch(arch)
    positive_int("width", width)
    P = conv1d.n_positions(d, s)
    if arch == "fc":
        return (lambda k: two_layer_net.init(k, width * P, d, bias=False)), _tanh_net
    return (lambda k: conv1d.init(k, d, s, width, shared=arch == "cnn")), conv1d.apply


def conv_teacher(kernel=CONV_KERNEL, d: int = CONV_INPUT_DIM) -> dict:
    """The target of Fig 10.3 as a 1-kernel CNN: f*(x) = sum_p tanh(K . x[p:p+s]) = W2 tanh(W1 x)
    with W2 = [1, ..., 1] and W1 = :func:`banded_matrix` (``{"kernel": [1, s], "a": [1, P]}``).
    ``kernel``: K [s]; ``d``: the input dimension."""
    kernel = jnp.asarray(kernel, jnp.float32)
    P = conv1d.n_positions(d, kernel.size)
    return {"kernel": kernel[None], "a": jnp.ones((1, P))}


def conv_teacher_point(
    arch: str, width: int = 1, kernel=CONV_KERNEL, d: int = CONV_INPUT_DIM
) -> dict:
    """The optimistic point of the teacher in ``conv_model(arch, width)``: the teacher written with
    one kernel (CNN), one kernel copied to every position (no sharing) or the P rows of W1 as
    neurons (FC), all other kernels / neurons zero (:func:`embed_in_wider`). ``arch``, ``width``,
    ``d`` as :func:`conv_model`; ``kernel``: K [s]. Returns params of ``conv_model(arch, width)``.
    """
    _check_arch(arch)
    t = conv_teacher(kernel, d)
    P = t["a"].shape[1]
    if arch == "cnn":
        p = t
    elif arch == "cnn_no_sharing":
        p = {"kernel": jnp.repeat(t["kernel"][:, None], P, 1), "a": t["a"]}
    else:
        p = {"a": t["a"][0], "w": jnp.asarray(banded_matrix(kernel, d), jnp.float32)}
    return embed_in_wider(p, width * (P if arch == "fc" else 1))


def conv_sample_size(arch: str, d: int = CONV_INPUT_DIM, s: int = len(CONV_KERNEL)) -> int:
    """Optimistic size of a 1-kernel target in each architecture (Table 10.1, D = 1): CNN
    s + (d+1-s), no sharing (s+1)(d+1-s), FC (d+1)(d+1-s); 6, 12, 18 for d = 5, s = 3."""
    _check_arch(arch)
    forms: dict[str, Callable[..., int]] = {
        "cnn": cnn,
        "cnn_no_sharing": cnn_no_sharing,
        "fc": fully_connected,
    }
    f = forms[arch]
    return f(d, s, ndim=1)


_CLOSED_FORMS: dict[str, Callable[..., int]] = {
    "linear": linear,
    "f_nl": f_nl,
    "two_layer": two_layer,
    "matrix_factorization": matrix_factorization,
    "cnn": cnn,
    "cnn_no_sharing": cnn_no_sharing,
    "fully_connected": fully_connected,
}


def optimistic_sample_size(model: str, **kwargs) -> int:
    """Closed-form optimistic sample size by model name, e.g.
    ``optimistic_sample_size("matrix_factorization", d=4, r=1) == 7``.

    Names: linear(k), f_nl(coef_x2), two_layer(k, d, bias), matrix_factorization(d, r),
    cnn(d, s, k, ndim), cnn_no_sharing(d, s, k, m_null, ndim), fully_connected(d, s, k, m_null, ndim).
    """
    if model not in _CLOSED_FORMS:
        raise ValueError(f"model: unknown {model!r}; known: {', '.join(_CLOSED_FORMS)}")
    return _CLOSED_FORMS[model](**kwargs)
