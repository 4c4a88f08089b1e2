"""Activation functions by name.

Names: relu, tanh, sigmoid, softplus, xtanh (x tanh x), x2tanh (x^2 tanh x), srelu,
s2relu, ricker, sin, identity. ``ricker`` and ``sin`` take a width/frequency parameter ``a``, given as
``"ricker:0.3"`` / ``"sin:5"`` or through :func:`get`'s keyword.

    ricker(x; a) = pi^{1/4} / (15 a) * (1 - (x/a)^2) * exp(-(x/a)^2 / 2)   (spec 04)
    sin(x; a)    = sin(a x)
    srelu(x)     = relu(x) relu(1 - x)                 (compact support [0, 1]; MscaleDNN,
    s2relu(x)    = sin(2 pi x) relu(x) relu(1 - x)      Liu, Cai, Xu 2020)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["get", "ricker", "sine"]

Activation = Callable[[jax.Array], jax.Array]


def ricker(a: float = 1.0) -> Activation:
    """Ricker (Mexican-hat) wavelet of width ``a`` with the book's normalization:

        sigma(x) = pi^{1/4} / (15 a) (1 - (x/a)^2) exp(-(x/a)^2 / 2)

    Returns the elementwise function ``sigma``; ``a`` must be > 0 (ValueError otherwise).
    """
    if not a > 0:
        raise ValueError(f"activation: ricker width a must be > 0, got {a}")
    c = jnp.pi**0.25 / (15.0 * a)

    def sigma(x):
        u = x / a
        return c * (1.0 - u**2) * jnp.exp(-0.5 * u**2)

    return sigma


def sine(a: float = 1.0) -> Activation:
    """sin(a x): returns the elementwise function of frequency ``a``."""
    return lambda x: jnp.sin(a * x)


_FIXED: dict[str, Activation] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "xtanh": lambda x: x * jnp.tanh(x),
    "x2tanh": lambda x: x**2 * jnp.tanh(x),
    "srelu": lambda x: jax.nn.relu(x) * jax.nn.relu(1.0 - x),
    "s2relu": lambda x: jnp.sin(2.0 * jnp.pi * x) * jax.nn.relu(x) * jax.nn.relu(1.0 - x),
    "identity": lambda x: x,
}
_PARAMETRIC: dict[str, Callable[[float], Activation]] = {"ricker": ricker, "sin": sine}

NAMES: tuple[str, ...] = tuple(_FIXED) + tuple(_PARAMETRIC)


def get(activation: str | Activation, a: float | None = None) -> Activation:
    """Resolve an activation given by name (``"tanh"``, ``"sin:5"``) or as a callable.

    ``a``: the parameter of a parameterized name (``get("sin", a=5)`` = ``get("sin:5")``);
    returns the elementwise function (a callable is returned as it is).

    Raises:
        ValueError: naming the field ``activation`` when the name is unknown.
    """
    if callable(activation):
        return activation
    if not isinstance(activation, str):
        raise ValueError(f"activation: expected a name or a callable, got {activation!r}")
    name, _, arg = activation.partition(":")
    if name in _FIXED:
        if arg or a is not None:
            raise ValueError(f"activation: {name!r} takes no parameter")
        return _FIXED[name]
    if name in _PARAMETRIC:
        if arg:
            try:
                a = float(arg)
            except ValueError:
                raise ValueError(f"activation: bad parameter in {activation!r}") from None
        return _PARAMETRIC[name](1.0 if a is None else a)
    raise ValueError(f"activation: unknown name {activation!r}; known: {', '.join(NAMES)}")
