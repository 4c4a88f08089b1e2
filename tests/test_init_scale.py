"""phasekit.dynamics.init_scale: the init-scale sweep on a researcher's own model equals the same
runs written by hand with train.run; RD per parameter group; the learning-rate rules' formulas."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import init_scale, sweep, train
from phasekit.theory import hessian


class MLP(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(1)(jnp.tanh(nn.Dense(self.width)(x)))[:, 0]


X = jax.random.normal(jax.random.key(0), (12, 2))
Y = jnp.sin(2 * X[:, 0])


def _hand_run(key, s, m):
    """One run written by hand as a researcher would: init the Flax MLP, scale it, GD on the
    displacement with train.run, RD of the first layer observed."""
    module = MLP(m)
    p0 = jax.tree_util.tree_map(lambda a: s * a, module.init(key, X[:1])["params"])
    plus = lambda d: jax.tree_util.tree_map(jnp.add, p0, d)
    loss = train.mse(lambda d, x: module.apply({"params": plus(d)}, x))
    w0 = jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(p0["Dense_0"])))
    rd = lambda d: {
        "rd": jnp.sqrt(sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(d["Dense_0"]))) / w0
    }
    return train.run(
        loss,
        jax.tree_util.tree_map(jnp.zeros_like, p0),
        (X, Y),
        optax.sgd(0.1),
        steps=300,
        n_records=10,
        stop_rel_loss=0.3,
        observe=rd,
    )


def test_sweep_on_a_flax_mlp_equals_the_runs_written_by_hand_with_train_run():
    """Bit for bit on CPU (lax.map path). The hand run is compiled as a function of (key, scale),
    as the sweep's point is; closing over a p0 computed outside jit instead makes p0 a constant
    that XLA folds into the norms, which moves results by ~1 ulp."""
    scales, widths = [0.5, 2.0], [8, 32]
    ds = init_scale_sweep_small(scales, widths)
    base = jax.random.key(0)
    for i, s in enumerate(scales):
        for j, m in enumerate(widths):
            hand = jax.jit(_hand_run, static_argnums=2)
            for seed in range(2):
                key = sweep.point_key(base, sweep.point_hash(("width", "seed"), (m, seed)))
                traj = hand(key, jnp.float32(s), m)
                got = ds.isel(scale=i, width=j, seed=seed)
                assert int(got["steps"]) == int(traj.n_steps)
                np.testing.assert_array_equal(
                    got["rd_star"].sel(group="Dense_0").values,
                    np.asarray(traj.observables["rd"][-1]),
                )
                np.testing.assert_array_equal(got["loss_star"].values, np.asarray(traj.loss[-1]))
                np.testing.assert_array_equal(got["loss"].values, np.asarray(traj.loss))
    assert set(ds["group"].values) == {"Dense_0", "Dense_1"}
    assert bool(ds["converged"].all()), "every run reaches 30 % of its initial loss"
    assert ds["S_w"].dims == ("scale", "group") and np.all(np.isfinite(ds["S_w"].values))
    # small init moves the weights relatively more than large init (the phase diagram's axis)
    assert float(ds["rd_star"].sel(group="Dense_0", scale=0.5).mean()) > float(
        ds["rd_star"].sel(group="Dense_0", scale=2.0).mean()
    )


def init_scale_sweep_small(scales, widths, **kw):
    return init_scale.init_scale_sweep(
        MLP,
        (X, Y),
        scales=scales,
        widths=widths,
        seeds=2,
        lr=0.1,
        steps=300,
        n_records=10,
        rel_tol=0.3,
        batching="map",
        progress=False,
        **kw,
    )


def test_per_group_scales_and_two_layer_pair_model():
    from phasekit.models import two_layer

    model = (
        lambda key, width: two_layer.init(key, width, 2),
        lambda p, x: two_layer.apply(p, x, "tanh"),
    )
    ds = init_scale.init_scale_sweep(
        model,
        (X, Y),
        scales={"a": [0.1, 1.0], "w": [1.0]},
        widths=[8, 32],
        seeds=1,
        groups={"input": ("w", "b"), "a": ("a",), "w": ("w",)},
        lr="gauss_newton",
        steps=200,
        n_records=5,
        progress=False,
        batching="map",
    )
    assert ds["rd_star"].dims == ("scale_a", "scale_w", "width", "seed", "group")
    assert np.all(ds["lr"].values > 0) and np.all(np.isfinite(ds["loss_star"].values))


def test_gauss_newton_trace_is_the_trace_of_the_dense_generalized_gauss_newton():
    module = MLP(5)
    p = module.init(jax.random.key(1), X[:1])["params"]
    apply = lambda p, x: module.apply({"params": p}, x)
    np.testing.assert_allclose(
        init_scale.gauss_newton_trace(apply, p, X, "mse", batch_size=5),
        np.trace(np.asarray(hessian.gauss_newton(apply, p, X))),
        rtol=1e-5,
    )
    w = {"w": jax.random.normal(jax.random.key(2), (2, 3)), "b": jnp.zeros(3)}
    lin = lambda p, x: x @ p["w"] + p["b"]
    np.testing.assert_allclose(
        init_scale.gauss_newton_trace(lin, w, X, "cross_entropy"),
        np.trace(np.asarray(hessian.gauss_newton(lin, w, X, loss="cross_entropy"))),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(scales=[0.0, 1.0]), "scales"),
        (dict(scales=[]), "scales"),
        (dict(seeds=0), "seeds"),
        (dict(lr="newton"), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(loss="hinge"), "loss"),
        (dict(steps=0), "steps"),
        (dict(rel_tol=1.5), "rel_tol"),
        (dict(widths=[0, 4]), "widths"),
        (dict(scales={"nope": [1.0]}), "scales"),
        (dict(groups={"g": ("missing",)}), "groups"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_field(kw, field):
    args = dict(scales=[1.0], widths=[4, 8], seeds=1, steps=10, progress=False) | kw
    with pytest.raises(ValueError, match=field):
        init_scale.init_scale_sweep(MLP, (X, Y), **args)
