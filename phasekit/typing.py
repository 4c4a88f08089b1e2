"""The names phasekit's signatures use, and the one calling convention behind them.

A model is data plus pure functions; a loss is a function of parameters and data; an observer
is a function of parameters. Every training, Hessian, landscape, stability and linearization
function speaks this convention:

    loss(params, data) -> scalar             data: a pytree whose leaves share a leading sample
                                             axis n, e.g. (x [n, d], y [n, k])
    observe(params) -> dict[str, array]      recorded along a trajectory (e.g. test loss)
    apply(params, x, **static) -> [n, k]     a model's one forward pass

so one loss, built once (``train.mse(apply)``, ``train.cross_entropy(apply)``), is trained by
:func:`phasekit.dynamics.train.run`, differentiated twice by :mod:`phasekit.theory.hessian` and
sliced by :mod:`phasekit.theory.landscape` without a wrapper. As in optax's ``base.py``, the
aliases name what a pytree means; they are not checked at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jax
from numpy.typing import ArrayLike

__all__ = ["ApplyFn", "Array", "Axes", "Data", "LossFn", "Observer", "Params", "StochasticLossFn"]

Params = Any
"""A pytree of arrays: a model's parameters (dicts, lists of dicts, flax ``FrozenDict``...)."""

Data = Any
"""A pytree of arrays with a shared leading sample axis n, e.g. ``(x [n, d], y [n, k])``."""

Array = jax.Array
"""A JAX array (``jax.Array``); shapes are named in each docstring, e.g. ``x [n, d]``."""

Axes = Mapping[str, ArrayLike]
"""A sweep's grid axes: name -> 1-D values (a list, tuple or numpy array), e.g.
``{"gamma": np.linspace(0.5, 2, 7), "seed": np.arange(4)}``."""


class ApplyFn(Protocol):
    """A model's forward pass: ``apply(params, x, **static) -> outputs [n, k]``."""

    def __call__(self, params: Params, x: Array, **static: Any) -> Array: ...


class LossFn(Protocol):
    """``loss(params, data) -> scalar``: a mean over the samples of ``data``."""

    def __call__(self, params: Params, data: Data) -> Array: ...


class StochasticLossFn(Protocol):
    """``loss(params, data, key) -> scalar`` (dropout, resampled collocation points):
    ``train.run(..., loss_takes_key=True)``."""

    def __call__(self, params: Params, data: Data, key: Array) -> Array: ...


class Observer(Protocol):
    """``observe(params) -> dict[str, array]``: what a trajectory records at its record steps."""

    def __call__(self, params: Params) -> dict[str, Array]: ...
