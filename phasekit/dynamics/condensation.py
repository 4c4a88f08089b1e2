"""Condensation measures (spec 02, book ch. 8): how input-weight vectors align.

For ReLU (positively homogeneous) each neuron k is a direction and an amplitude:

    A_k = |a_k| * ||(w_k, b_k)||,     Omega_k = atan2(b_k, w_k)  in [-pi, pi)  (1-D input + bias)

For high-dimensional input the direction is summarized by its projection on a fixed unit
direction p: <w_hat_k, p> (book Fig 7.6 uses p = all-ones / sqrt(dim)).
"""

from __future__ import annotations

import jax.numpy as jnp


def orientation_amplitude(a, w, b=None):
    """(Omega_k, A_k) of a two-layer net with 1-D input.

    Args:
      a: [..., m] output weights; w: [..., m] or [..., m, 1] input weights; b: [..., m] biases
        (None: b = 0, so Omega is 0 or -pi).
    Returns:
      omega: [..., m] angle of (w_k, b_k) in [-pi, pi);  amplitude: [..., m] = |a_k| ||(w_k, b_k)||.
    """
    w = w[..., 0] if w.ndim == a.ndim + 1 else w
    b = jnp.zeros_like(w) if b is None else b
    omega = jnp.arctan2(b, w)
    omega = jnp.where(omega >= jnp.pi, omega - 2 * jnp.pi, omega)
    return omega, jnp.abs(a) * jnp.hypot(w, b)


def projection_amplitude(a, theta_w, direction=None):
    """(<w_hat_k, p>, A_k) for high-dimensional inputs.

    Args:
      a: [..., m] output weights; theta_w: [..., m, D] input weights (bias appended if any).
      direction: [D] unit direction p; default all-ones / sqrt(D).
    """
    D = theta_w.shape[-1]
    p = jnp.ones((D,), theta_w.dtype) / jnp.sqrt(D) if direction is None else direction / jnp.linalg.norm(direction)
    norm = jnp.linalg.norm(theta_w, axis=-1)
    proj = (theta_w @ p) / jnp.where(norm > 0, norm, 1.0)
    return proj, jnp.abs(a) * norm
