"""Condensation / embedding experiment configs: cross-field checks name the field; the sweep
grids have several points (resumable in chunks)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

from phasekit import experiments as E
from phasekit.dynamics import train
from phasekit.experiments import condensation as C
from phasekit.experiments import embedding as M


def test_configs_reject_bad_values_naming_the_field():
    with pytest.raises(ValueError, match="lrs"):
        C.ActivationConfig(activations=("tanh", "xtanh"), lrs=(1e-3,), gammas=(4.0, 4.0))
    with pytest.raises(ValueError, match="activation"):
        C.ActivationConfig(activations=("tanh", "nope"), lrs=(1e-3, 1e-3), gammas=(4.0, 4.0))
    with pytest.raises(ValueError, match="activation"):
        C.ResidualConfig(activations=("nope",))
    with pytest.raises(ValueError, match="threshold"):
        C.ProcessConfig(threshold=1.5)
    with pytest.raises(ValueError, match="widths"):
        M.LossSpectrumConfig(widths=(5,))
    with pytest.raises(ValueError, match="log10_range"):
        M.LossSpectrumConfig(log10_range=(0.0, -5.0))
    with pytest.raises(ValueError, match="widths"):
        M.HessianConfig(widths=(4, 3))
    with pytest.raises(ValueError, match="data"):
        M.HessianConfig(data="mnist")
    with pytest.raises(ValueError, match="n_train"):
        M.ReductionConfig(n_train=5000)


def _points(name, preset):
    cfg = E.get(name).preset(preset)
    n = cfg.seeds
    if name == "condensation-activation":
        n *= len(cfg.activations)
    if name == "embedding-loss-spectrum":
        n *= len(cfg.widths)
    return n


@pytest.mark.parametrize(
    "name",
    [
        "condensation-process",
        "condensation-activation",
        "condensation-residual",
        "embedding-loss-spectrum",
        "embedding-hessian",
        "embedding-hessian-iris",
        "embedding-reduction",
    ],
)
def test_tiny_grids_have_several_points(name):
    """With a chunk size of 2 (PHASEKIT_CHUNK_SIZE=2), a tiny run writes more than one chunk
    (kill -9 / resume tests)."""
    assert _points(name, "tiny") >= (4 if name == "condensation-process" else 3)
    assert _points(name, "quick") >= _points(name, "tiny")


def test_snapshot_field_is_validated_and_selects_the_record():
    with pytest.raises(ValueError, match="snapshot"):
        C.ActivationConfig(snapshot="epoch-100")
    with pytest.raises(ValueError, match="snapshot"):
        C.ResidualConfig(snapshot="middle")
    loss = np.array([1.0, 0.99, 0.95, 0.85, 0.5, 0.4])
    assert int(C._snapshot_record(loss, "plateau-end", 0.1)) == 3  # first loss <= 0.9 L0
    assert int(C._snapshot_record(loss, "last", 0.1)) == 5
    # the initial presets count the lines at the authors' epoch 100 (full batch: step 100)
    for name in ("condensation-activation", "condensation-residual"):
        cfg = E.get(name).preset("initial")
        assert cfg.snapshot == "last" and cfg.steps == 100
    assert E.get("condensation-activation").preset("initial").gammas == (4.0,) * 5


def test_adam_leaves_a_weight_whose_gradient_is_below_eps():
    """The cause stated for x^2 tanh at std m^-4: Adam's first step is exactly
    lr g / (|g| + eps) per entry (m_hat = g, v_hat = g^2), so with |g| << eps (the cubic
    gradient at that init, ~1e-17) a weight moves by ~lr |g| / eps, i.e. not at all, while
    with |g| >> eps it moves by ~lr (sign-like)."""
    from phasekit.models import activations
    from phasekit.models import two_layer as tl

    x = jax.random.uniform(jax.random.key(1), (80, 5), minval=-4.0, maxval=2.0)
    y = jnp.sum(3.5 * jnp.sin(5 * x + 1), axis=1)
    lr, eps = 2.5e-4, C.ADAM_EPS
    for act, gamma, frozen in (("x2tanh", 4.0, True), ("tanh", 4.0, False)):
        s = 50.0**-gamma
        p = tl.rescale(tl.init(jax.random.key(0), 50, 5), s, s)
        loss = train.mse(tl.apply, activation=activations.get(act))
        g = jax.grad(loss)(p, (x, y))
        opt = optax.adam(lr, eps=eps)
        upd, _ = opt.update(g, opt.init(p))
        for k in p:
            np.testing.assert_allclose(
                upd[k], -lr * g[k] / (jnp.abs(g[k]) + eps), rtol=1e-4, atol=1e-30
            )
        gmax = float(C._max_abs(g))
        step = max(float(jnp.max(jnp.abs(u))) for u in upd.values())
        if frozen:
            assert gmax < 1e-8 * eps and step < 1e-7 * lr
        else:
            assert gmax > 10 * eps and step > 0.5 * lr


def _activation_ds(lines, ratios, grad0, snapshot="last"):
    acts = ["tanh", "xtanh", "x2tanh"]
    seeds = len(lines[0])
    ds = xr.Dataset(
        {
            "n_lines": (("activation", "seed"), np.asarray(lines, float)),
            "loss_ratio": (("activation", "seed"), np.asarray(ratios, float)),
            "grad0_max": (("activation", "seed"), np.full((3, seeds), grad0)),
            "snapshot_step": (("activation", "seed"), np.full((3, seeds), 100)),
        },
        coords={
            "activation": acts,
            "lr": ("activation", [1e-3, 8e-4, 2.5e-4]),
            "gamma": ("activation", [4.0, 4.0, 4.0]),
            "step": [1, 100],
        },
        attrs={"preset": "initial", "config_snapshot": snapshot, "config_threshold": 0.9},
    )
    return ds


def test_activation_claims_do_not_count_an_unmoved_init_as_lines():
    """A random init has ~m lines: the multiplicity rule must not hold on it, and the
    x^2 tanh claim names the frozen-weights cause with the measured numbers."""
    frozen = _activation_ds([[1, 1], [2, 2], [42, 43]], [[0.9, 0.9], [0.94, 0.94], [1, 1]], 1e-17)
    by = {c.name: c for c in C.claims_activation(frozen)}
    assert by["lines-tanh"].held and by["lines-xtanh"].held
    assert not by["lines-x2tanh"].held and "eps" in by["lines-x2tanh"].cause
    assert "1e-17" in by["lines-x2tanh"].cause
    assert not by["multiplicity-rule"].held and "x2tanh" in by["multiplicity-rule"].cause
    moved = _activation_ds([[1, 1], [2, 2], [3, 3]], [[0.9, 0.9], [0.94, 0.94], [0.99, 0.99]], 2e-7)
    by = {c.name: c for c in C.claims_activation(moved)}
    assert by["lines-x2tanh"].held and by["multiplicity-rule"].held
    assert "at step 100" in by["lines-x2tanh"].statement
