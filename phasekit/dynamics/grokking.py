"""Grokking times (Power et al. 2022): when a run first fits its train set and when it first
generalizes.

    step_train = min { s_r : train_accuracy(s_r) >= threshold }
    step_test  = min { s_r : test_accuracy(s_r)  >= threshold }
    delay      = step_test - step_train

over the record steps s_r of a trajectory (so the resolution is the record spacing). A time
that is never reached within the records is NaN (and so is the delay). Pure jnp: works under
``jax.jit`` and ``jax.vmap`` over runs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

__all__ = [
    "GrokkingTimes",
    "delay_lower_bound",
    "first_step_reaching",
    "grokking_times",
]


class GrokkingTimes(NamedTuple):
    """step_train, step_test, delay: float arrays of the runs' batch shape (NaN: not reached)."""

    step_train: jnp.ndarray
    step_test: jnp.ndarray
    delay: jnp.ndarray


def first_step_reaching(steps, values, threshold):
    """min { steps[r] : values[..., r] >= threshold }, NaN where no record reaches it.

    steps: [R] record steps (increasing); values: [..., R]; returns float [...].
    """
    steps = jnp.asarray(steps)
    values = jnp.asarray(values)
    if steps.ndim != 1 or values.shape[-1] != steps.shape[0]:
        raise ValueError(f"values: last axis must match steps [{steps.shape}], got {values.shape}")
    hit = values >= threshold
    first = jnp.argmax(hit, axis=-1)
    return jnp.where(jnp.any(hit, axis=-1), steps.astype(jnp.float32)[first], jnp.nan)


def grokking_times(steps, train_accuracy, test_accuracy, threshold: float = 0.99) -> GrokkingTimes:
    """The first record steps with train / test accuracy >= ``threshold`` and their difference
    (see the module docstring). train_accuracy, test_accuracy: [..., R]."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: must be in (0, 1], got {threshold!r}")
    s_train = first_step_reaching(steps, train_accuracy, threshold)
    s_test = first_step_reaching(steps, test_accuracy, threshold)
    return GrokkingTimes(s_train, s_test, s_test - s_train)


def delay_lower_bound(times: GrokkingTimes, last_step):
    """The delay, with runs that fit the train set but never reach the test threshold within
    the records counted at ``last_step - step_train`` (a lower bound on their delay: they are
    censored at the budget). NaN where the train threshold is never reached.

    Args:
      times: :class:`GrokkingTimes` (:func:`grokking_times`); last_step: the last record step.
    Returns:
      delays, the runs' batch shape.
    """
    s_test = jnp.where(
        jnp.isnan(times.step_test), jnp.asarray(last_step, jnp.float32), times.step_test
    )
    return jnp.where(jnp.isnan(times.step_train), jnp.nan, s_test - times.step_train)
