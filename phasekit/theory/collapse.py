"""Neural collapse (Papyan, Han & Donoho 2020; book ch. 14): the geometry of last-layer features.

Features h_i in R^d with labels y_i in {0..C-1}; class means mu_c, global mean mu_G (the mean
of all samples), n_c samples of class c, n in all:

    Sigma_W = (1/n) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T        within-class covariance
    Sigma_B = (1/C) sum_c (mu_c - mu_G)(mu_c - mu_G)^T              between-class covariance

    NC1  tr(Sigma_W Sigma_B^+) / C                                   -> 0 (variability collapse)
    NC2  equinorm: std_c / mean_c of ||mu_c - mu_G||                 -> 0
         equiangularity: cos(mu_c - mu_G, mu_c' - mu_G), c != c'     -> -1/(C - 1) (simplex ETF)
    NC3  || W / ||W||_F - M / ||M||_F ||_F, M = [mu_c - mu_G]_c      -> 0 (self-duality)
    NC4  fraction of samples where argmax_c f(h)_c = argmin_c ||h - mu_c||   -> 1

The last layer follows :mod:`phasekit.models.mlp`: logits = h W + b with W [d, C], so the
classifier vectors w_c are W's columns and M is [d, C] (the spec's W^T for a [C, d] layer).
Everything is jnp: the functions jit and vmap (e.g. inside ``train.run``'s ``observe``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "ClassGeometry",
    "Collapse",
    "NC2",
    "centred_means",
    "class_geometry",
    "nc1",
    "nc2",
    "nc3",
    "nc4",
    "neural_collapse",
    "simplex_etf",
]


class ClassGeometry(NamedTuple):
    """means: [C, d] class means mu_c; global_mean: [d] mu_G; sigma_w, sigma_b: [d, d]."""

    means: jax.Array
    global_mean: jax.Array
    sigma_w: jax.Array
    sigma_b: jax.Array


def class_geometry(h, y, num_classes: int) -> ClassGeometry:
    """Class means and the within / between covariances of the module docstring.

    h: [n, d] features; y: [n] integer labels in [0, num_classes). A class without samples
    gets mean mu_G (it then adds nothing to Sigma_B)."""
    h = jnp.asarray(h)
    onehot = jax.nn.one_hot(y, num_classes, dtype=h.dtype)  # [n, C]
    counts = onehot.sum(0)
    mu_g = h.mean(0)
    sums = onehot.T @ h
    means = jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], mu_g)
    dev = h - onehot @ means
    sigma_w = dev.T @ dev / h.shape[0]
    cm = means - mu_g
    sigma_b = cm.T @ cm / num_classes
    return ClassGeometry(means, mu_g, sigma_w, sigma_b)


def nc1(h, y, num_classes: int) -> jax.Array:
    """NC1 = tr(Sigma_W Sigma_B^+) / C (a scalar; 0 when every sample sits on its class mean).

    Sigma_B has rank <= C - 1; its pseudo-inverse cuts singular values below
    ``max(d, d) * eps * s_max`` (``jnp.linalg.pinv``'s rule).

    Args:
      h: [n, d] features;  y: [n] integer labels in [0, num_classes);  num_classes: C.
    Returns:
      NC1, a scalar.
    """
    g = class_geometry(h, y, num_classes)
    return jnp.trace(g.sigma_w @ jnp.linalg.pinv(g.sigma_b, hermitian=True)) / num_classes


class NC2(NamedTuple):
    """equinorm: std / mean of ||mu_c - mu_G||; cos_mean: mean off-diagonal cosine;
    equiangularity: mean |cos + 1/(C-1)| over c != c'; cos_max_dev: max of that deviation."""

    equinorm: jax.Array
    cos_mean: jax.Array
    equiangularity: jax.Array
    cos_max_dev: jax.Array


def centred_means(h, y, num_classes: int) -> jax.Array:
    """M^T = [mu_c - mu_G]_c as rows, [C, d].

    Args:
      h: [n, d] features;  y: [n] integer labels in [0, num_classes);  num_classes: C.
    Returns:
      [C, d].
    """
    g = class_geometry(h, y, num_classes)
    return g.means - g.global_mean


def nc2(h, y, num_classes: int) -> NC2:
    """Equinorm and equiangularity of the centred class means (see :class:`NC2`); a simplex
    ETF gives equinorm 0 and every cosine -1/(C - 1).

    Args:
      h: [n, d] features;  y: [n] integer labels in [0, num_classes);  num_classes: C.
    Returns:
      :class:`NC2` of scalars.
    """
    m = centred_means(h, y, num_classes)
    norms = jnp.linalg.norm(m, axis=1)
    u = m / jnp.maximum(norms, jnp.finfo(m.dtype).tiny)[:, None]
    cos = u @ u.T
    off = ~jnp.eye(num_classes, dtype=bool)
    dev = jnp.abs(cos + 1.0 / (num_classes - 1))
    n_off = num_classes * (num_classes - 1)
    return NC2(
        norms.std() / norms.mean(),
        jnp.sum(jnp.where(off, cos, 0.0)) / n_off,
        jnp.sum(jnp.where(off, dev, 0.0)) / n_off,
        jnp.max(jnp.where(off, dev, 0.0)),
    )


def nc3(h, y, w, num_classes: int) -> jax.Array:
    """NC3 = || W/||W||_F - M/||M||_F ||_F with W [d, C] the last layer (logits = h W + b) and
    M = [mu_c - mu_G]_c [d, C]. In [0, 2]; 0 when the classifier is the (scaled) class means.

    Args:
      h: [n, d] features;  y: [n] integer labels;  w: [d, C] last-layer weights;
      num_classes: C.
    Returns:
      NC3, a scalar.
    """
    m = centred_means(h, y, num_classes).T
    return jnp.linalg.norm(w / jnp.linalg.norm(w) - m / jnp.linalg.norm(m))


def nc4(h, y, logits, num_classes: int) -> jax.Array:
    """NC4 agreement = (1/n) sum_i [argmax_c logits_ic = argmin_c ||h_i - mu_c||] (class means
    from the labels ``y``; logits [n, C] of the net on the same samples).

    Args:
      h: [n, d] features;  y: [n] integer labels in [0, num_classes);  num_classes: C.
      logits: [n, C].
    Returns:
      The agreement in [0, 1], a scalar.
    """
    means = class_geometry(h, y, num_classes).means
    d2 = jnp.sum((h[:, None, :] - means[None]) ** 2, axis=-1)
    return jnp.mean(jnp.argmax(logits, -1) == jnp.argmin(d2, -1))


def simplex_etf(num_classes: int, dim: int | None = None, dtype=jnp.float32) -> jax.Array:
    """The standard simplex ETF: rows sqrt(C/(C-1)) (e_c - 1/C), [C, dim] (dim >= C, zero padded):
    unit norms, pairwise cosines -1/(C - 1), zero mean.

    Args:
      num_classes: C >= 2;  dim: the row length (default C);  dtype: of the result.
    Returns:
      [C, dim].
    """
    c = num_classes
    m = jnp.sqrt(c / (c - 1)) * (jnp.eye(c, dtype=dtype) - 1.0 / c)
    dim = c if dim is None else dim
    if dim < c:
        raise ValueError(f"dim: need dim >= num_classes = {c}, got {dim}")
    return jnp.pad(m, ((0, 0), (0, dim - c)))


class Collapse(NamedTuple):
    """All four measures (scalars): nc1, equinorm, cos_mean, equiangularity, nc3, nc4."""

    nc1: jax.Array
    equinorm: jax.Array
    cos_mean: jax.Array
    equiangularity: jax.Array
    nc3: jax.Array
    nc4: jax.Array


def neural_collapse(h, y, w, logits, num_classes: int) -> Collapse:
    """NC1-NC4 of features h [n, d], labels y [n], last layer W [d, C] and logits [n, C].

    Args:
      h: [n, d];  y: [n] integer labels;  w: [d, C];  logits: [n, C];  num_classes: C.
    Returns:
      :class:`Collapse` of scalars (:func:`nc1`, :func:`nc2`, :func:`nc3`, :func:`nc4`).
    """
    two = nc2(h, y, num_classes)
    return Collapse(
        nc1(h, y, num_classes),
        two.equinorm,
        two.cos_mean,
        two.equiangularity,
        nc3(h, y, w, num_classes),
        nc4(h, y, logits, num_classes),
    )
