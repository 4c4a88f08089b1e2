"""abc-parameterizations (TP4 / TP5) and their measures: the math they state."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.dynamics import parameterization as D
from phasekit.dynamics import train
from phasekit.models import mlp, two_layer
from phasekit.models import parameterization as P
from phasekit.theory import regimes


def _mlp_setup(sizes, key=0, dtype=jnp.float64):
    template = mlp.init(jax.random.key(key), sizes, dtype=dtype)
    return template, P.infer_roles(template)


# ----------------------------------------------------------------------------- exponents, classification


@pytest.mark.parametrize(
    "p, r",
    [
        (P.mup(2), 0.0),
        (P.mup(3), 0.0),
        (P.mf(), 0.0),
        (P.mup(1), 0.0),
        (P.ntp(2), 0.5),
        (P.ntp(3), 0.5),
        (P.sp(2, c=1.0), 0.5),
        (P.sp(3, c=1.0), 0.5),
    ],
)
def test_r_of_the_presets(p, r):
    assert P.feature_exponent(p) == pytest.approx(r, abs=1e-12)
    cl = P.classify(p)
    assert cl.stable and cl.nontrivial
    assert cl.regime == ("feature learning" if r == 0 else "kernel")


def test_r_is_tp4_formula_with_uniform_c():
    rng = np.random.default_rng(0)
    for _ in range(50):
        L = int(rng.integers(1, 5))
        a, b, c = rng.normal(size=L + 1), rng.normal(size=L + 1), float(rng.normal())
        tp4 = min(a[-1] + b[-1], 2 * a[-1] + c) + c - 1 + min(2 * a[l] + (l == 0) for l in range(L))
        assert P.feature_exponent(P.make(a, b, c)) == pytest.approx(tp4, abs=1e-12)


def test_sp_with_constant_lr_is_unstable_and_classification_is_symmetric():
    assert P.classify(P.sp(2, c=0.0)).regime == "unstable"
    rng = np.random.default_rng(1)
    for p in (P.mup(2), P.ntp(3), P.sp(2), P.mf()):
        q = P.shift(p, rng.normal(size=p.depth))
        assert q != p
        cq, cp = P.classify(q, tol=1e-9), P.classify(p)
        assert cq.r == pytest.approx(cp.r, abs=1e-12) and cq[1:] == cp[1:]
        np.testing.assert_allclose(P.init_exponents(q), P.init_exponents(p), atol=1e-12)
        np.testing.assert_allclose(P.lr_exponents(q), P.lr_exponents(p), atol=1e-12)
        k = P.canonical(q)
        assert np.allclose(k.a, 0) and np.allclose(P.lr_exponents(k), P.lr_exponents(p))
    # an init exponent off 1/2 in a hidden layer is not stable at init
    assert not P.classify(P.make((0, 0, 0), (0, 0.7, 0.5), 1.0)).stable_at_init


def test_adam_mup_is_tp5_table_3():
    # effective per-entry Adam steps on W: input ~ 1, hidden ~ 1/n, output ~ 1/n; SGD: n, 1, 1/n
    np.testing.assert_allclose(P.lr_exponents(P.mup(2, "adam")), [0, 1, 1])
    np.testing.assert_allclose(P.lr_exponents(P.mup(2, "sgd")), [-1, 0, 1])
    np.testing.assert_allclose(P.init_exponents(P.mup(2, "adam")), [0, 0.5, 1])


# ----------------------------------------------------------------------------- the symmetry


def _trajectory(p, sizes, opt_kw, steps=20, lr=0.05):
    with jax.enable_x64(True):
        template, roles = _mlp_setup(sizes)
        x = jax.random.normal(jax.random.key(1), (16, sizes[0]), jnp.float64)
        y = jnp.sin(x[:, 0])
        model = P.parameterize(jax.random.key(2), mlp.apply, template, p, roles)
        opt = model.optimizer(lr, **opt_kw)
        loss = train.mse(model.apply, activation="tanh")

        def step(carry, _):
            w, s = carry
            g = jax.grad(loss)(w, (x, y))
            u, s = opt.update(g, s, w)
            w = optax.apply_updates(w, u)
            return (w, s), model.apply(w, x, activation="tanh")

        _, fs = jax.lax.scan(step, (model.params, opt.init(model.params)), None, length=steps)
        return np.asarray(fs)


@pytest.mark.parametrize("opt, kw", [("sgd", {}), ("adam", {"eps": 1e-30})])
def test_symmetry_gives_the_same_function_trajectory(opt, kw):
    sizes = [3, 32, 48, 1]
    p = P.mup(2, opt)
    q = P.shift(p, (0.3, -0.4, 0.7))
    f_p, f_q = _trajectory(p, sizes, kw), _trajectory(q, sizes, kw)
    assert np.ptp(f_p, 0).max() > 1e-2  # the function moved
    np.testing.assert_allclose(f_q, f_p, rtol=0, atol=1e-10)
    # a shift that breaks the symmetry (b alone) changes the trajectory
    r = P.ABC(p.a, tuple(v + 0.1 for v in p.b), p.c, opt)
    assert np.abs(_trajectory(r, sizes, kw) - f_p).max() > 1e-3


# ----------------------------------------------------------------------------- init, multipliers, optimizer


def test_scaled_init_std_is_n_to_minus_a_plus_b():
    sizes = [5, 512, 1024, 3]
    template, roles = _mlp_setup(sizes, dtype=jnp.float32)
    for p in (P.mup(2), P.ntp(2), P.sp(2), P.shift(P.mup(2), (0.2, -0.3, 0.1))):
        model = P.parameterize(jax.random.key(3), mlp.apply, template, p, roles)
        W = P.apply_multipliers(model.params, model.multipliers)
        beta = P.init_exponents(p)
        n_w = [512, 512, 1024]  # input: fan-out; hidden, output: fan-in
        fixed_fan_in = [5, 1, 1]
        for l in range(3):
            w = np.asarray(W[l]["w"])
            want = n_w[l] ** -beta[l] / math.sqrt(fixed_fan_in[l])
            assert abs(w.std() / want - 1) < 4 / math.sqrt(2 * w.size) + 1e-3, (p, l)
        # biases: input-layer rule, width = fan-out
        b = np.asarray(W[1]["b"])
        assert abs(b.std() / 1024 ** -beta[0] - 1) < 4 / math.sqrt(2 * b.size)


TABLE_3 = {  # TP5 Table 3 (the `mup` README), effective rules on W: lr multiplier per role
    # for SGD the step on W is lr * rule * dL/dW; for Adam the per-entry step is lr * rule
    ("mup", "sgd"): {
        "input": lambda fi, fo: fo,
        "bias": lambda fi, fo: fo,
        "hidden": lambda fi, fo: 1.0,
        "output": lambda fi, fo: 1 / fi,
        "fixed": lambda fi, fo: 1.0,
    },
    ("mup", "adam"): {
        "input": lambda fi, fo: 1.0,
        "bias": lambda fi, fo: 1.0,
        "hidden": lambda fi, fo: 1 / fi,
        "output": lambda fi, fo: 1 / fi,
        "fixed": lambda fi, fo: 1.0,
    },
    ("sp", "sgd"): {r: (lambda fi, fo: 1.0) for r in P.ROLES},
    ("ntp", "sgd"): {
        "input": lambda fi, fo: 1.0,
        "bias": lambda fi, fo: 1.0,
        "hidden": lambda fi, fo: 1 / fi,
        "output": lambda fi, fo: 1 / fi,
        "fixed": lambda fi, fo: 1.0,
    },
}


@pytest.mark.parametrize("name, opt", list(TABLE_3))
def test_optax_per_leaf_scales_are_the_table(name, opt):
    sizes = [7, 64, 256, 3]
    template, roles = _mlp_setup(sizes, dtype=jnp.float32)
    p = P.preset(name, 2, opt, **({"c": 0.0} if name == "sp" else {}))
    model = P.parameterize(jax.random.key(0), mlp.apply, template, p, roles)
    mult = model.multipliers
    # dL/dW = G for a fixed random G; the gradient on the trained w is n^{-a} G
    G = jax.tree_util.tree_map(lambda v: jax.random.normal(jax.random.key(9), v.shape), template)
    grad_w = jax.tree_util.tree_map(lambda m, g: m * g, mult, G)
    lr = 0.01
    opt_ = model.optimizer(
        lr, **({"eps": 0.0} if opt == "adam" else {})
    )  # Adam's first step: lr sign(g)
    upd, _ = opt_.update(grad_w, opt_.init(model.params), model.params)
    dW = jax.tree_util.tree_map(lambda m, u: m * u, mult, upd)  # the step on W = n^{-a} w
    rl = jax.tree_util.tree_leaves(roles)
    for role, (i, k) in zip(rl, [(l, k) for l in range(3) for k in sorted(template[l])]):
        fi, fo = (sizes[i], sizes[i + 1])
        want = TABLE_3[(name, opt)][role](fi, fo)
        step, g = np.asarray(dW[i][k]), np.asarray(G[i][k])
        got = -step / (lr * (g if opt == "sgd" else np.sign(g)))
        np.testing.assert_allclose(
            got, want, rtol=2e-4, err_msg=f"{name} {opt} {role} layer {i} {k}"
        )


def test_roles_inferred_for_a_flax_dense_stack_equal_hand_given():
    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(11):  # Dense_10 sorts before Dense_2: order must come from the calls
                x = nn.relu(nn.Dense(16)(x))
            return nn.Dense(2)(x)

    v = Stack().init(jax.random.key(0), jnp.ones((1, 3)))
    hand = {
        "params": {
            f"Dense_{i}": {
                "kernel": "input" if i == 0 else "output" if i == 11 else "hidden",
                "bias": "fixed" if i == 11 else "bias",
            }
            for i in range(12)
        }
    }
    assert P.infer_roles(v) == hand
    seq = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(8), nn.relu, nn.Dense(1)])
    vs = seq.init(jax.random.key(0), jnp.ones((1, 3)))
    assert P.infer_roles(vs) == {
        "params": {
            "layers_0": {"kernel": "input", "bias": "bias"},
            "layers_2": {"kernel": "hidden", "bias": "bias"},
            "layers_4": {"kernel": "output", "bias": "fixed"},
        }
    }
    assert P.infer_roles(mlp.init(jax.random.key(0), [3, 8, 1])) == [
        {"w": "input", "b": "bias"},
        {"w": "output", "b": "fixed"},
    ]


def test_explicit_roles_for_a_cnn_and_widths_from_shapes():
    from phasekit.models import cnn

    v = cnn.init(jax.random.key(0), (6, 6, 2), features=8)
    roles = {
        "params": {
            "Conv_0": {"kernel": "input", "bias": "bias"},
            "Dense_0": {"kernel": "output", "bias": "fixed"},
        }
    }
    w = P.widths(v, roles)["params"]
    assert w["Conv_0"] == {"kernel": 8, "bias": 8} and w["Dense_0"] == {
        "kernel": 6 * 6 * 8,
        "bias": 1,
    }
    with pytest.raises(ValueError, match="Dense"):
        P.infer_roles(v)
    with pytest.raises(ValueError, match="roles"):
        P.widths(
            v,
            {
                "params": {
                    "Conv_0": {"kernel": "inputs", "bias": "bias"},
                    "Dense_0": {"kernel": "output", "bias": "fixed"},
                }
            },
        )


# ----------------------------------------------------------------------------- the book's two-layer map


def test_two_layer_map_reproduces_table_7_1_rows():
    for m in (10, 1000):
        np.testing.assert_allclose(
            P.to_two_layer(P.ntp(1), m)[:3], two_layer.preset("ntk", m, 1), rtol=1e-12
        )
        np.testing.assert_allclose(
            P.to_two_layer(P.mf(), m)[:3], two_layer.preset("mean_field", m, 1), rtol=1e-12
        )
        np.testing.assert_allclose(
            P.to_two_layer(P.mup(1), m)[:3], two_layer.preset("mean_field", m, 1), rtol=1e-12
        )
        np.testing.assert_allclose(
            P.to_two_layer(P.sp(1), m, 7)[:3], two_layer.preset("lecun", m, 7), rtol=1e-12
        )
    # every row: its exponents read at large widths give the book's (gamma, gamma') limit
    ws = (1e6, 1e9)
    xavier = P.make((0.0, 0.0), (0.5, 0.5), 0.0)  # its input std sqrt(2/(m+d)) falls with the width
    for name, abc in (
        ("lecun", P.sp(1)),
        ("he", P.sp(1)),
        ("xavier", xavier),
        ("ntk", P.ntp(1)),
        ("mean_field", P.mf()),
    ):
        logs = np.log([two_layer.preset(name, int(m), 3) for m in ws])
        a2, lb1, lb2 = (logs[1] - logs[0]) / np.log(ws[1] / ws[0])
        row = P.make((0.0, a2), (-lb2, -lb1), 0.0)
        np.testing.assert_allclose(P.book_exponents(row), regimes.preset_exponents(name), atol=1e-6)
        np.testing.assert_allclose(P.init_exponents(row), P.init_exponents(abc), atol=1e-6)
        # the abc preset with the book's one lr per net: same (gamma, gamma')
        np.testing.assert_allclose(
            P.book_exponents(abc), regimes.preset_exponents(name), atol=1e-12
        )
    assert regimes.regime(*P.book_exponents(P.ntp(1))) == "linear"
    assert regimes.regime(*P.book_exponents(P.mf())) == "critical"
    assert regimes.regime(*P.book_exponents(P.mup(1))) == "critical"


def test_book_family_round_trip():
    for g, gp in ((0.5, 0.0), (1.0, -0.5), (1.7, 0.3)):
        p = P.book(g, gp)
        np.testing.assert_allclose(P.book_exponents(p), (g, gp), atol=1e-12)
        np.testing.assert_allclose(
            P.to_two_layer(p, 300)[:3], regimes.scaling_for(g, gp, 300.0), rtol=1e-12
        )
        q = P.from_two_layer(*P.to_two_layer(p, 300)[:3], 300)
        np.testing.assert_allclose(P.book_exponents(q), (g, gp), atol=1e-12)
        # equivalent parameterizations have the same book exponents
        np.testing.assert_allclose(P.book_exponents(P.shift(p, (0.4, -0.2))), (g, gp), atol=1e-12)


# ----------------------------------------------------------------------------- measures


def test_width_slopes_and_optimal_lr_closed_forms():
    n = np.array([64, 128, 256, 512])
    vals = np.stack([3 * n**0.5, 2 * n**-1.0], -1)
    np.testing.assert_allclose(D.width_slopes(n, vals), [0.5, -1.0], atol=1e-12)
    lrs = np.exp(np.linspace(-4, 1, 11))
    loss = (np.log(lrs)[None, :, None] - np.log([0.1, 0.3])[:, None, None]) ** 2 + np.zeros(
        (1, 1, 3)
    )
    loss[:, -1, 0] = np.nan  # a diverged run at the largest lr
    opt = D.optimal_lr(lrs, loss)
    np.testing.assert_allclose(
        opt.lr, [0.1, 0.3], rtol=1e-9
    )  # a parabola in log lr is found exactly
    assert opt.interior.all()


def test_coordinate_check_of_one_run():
    sizes = [4, 32, 32, 1]
    template, roles = _mlp_setup(sizes, dtype=jnp.float32)
    x = jax.random.normal(jax.random.key(0), (8, 4))
    y = jnp.cos(x[:, 0])
    model = P.parameterize(jax.random.key(1), mlp.apply, template, P.mup(2), roles)

    def feats(w):
        W = P.apply_multipliers(w, model.multipliers)
        return mlp.preactivations(W, x) + [mlp.apply(W, x)]

    cc = D.coordinate_check(
        train.mse(model.apply), feats, model.params, (x, y), model.optimizer(0.1), steps=3
    )
    assert cc.size.shape == (4, 3) and cc.change.shape == (4, 3)
    np.testing.assert_allclose(cc.change[0], 0.0)
    np.testing.assert_allclose(
        cc.size[0], [float(jnp.mean(jnp.abs(h))) for h in feats(model.params)], rtol=1e-6
    )
    assert np.all(np.asarray(cc.change[1:]) > 0)
    # the same numbers as the training engine with a record at every step
    tr = train.run(
        train.mse(model.apply),
        model.params,
        (x, y),
        model.optimizer(0.1),
        steps=3,
        record_at=np.arange(4),
        observe=D.feature_observer(feats, model.params),
    )
    np.testing.assert_allclose(cc.change, tr.observables["change"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cc.loss, tr.loss, rtol=1e-6)


def test_flax_intermediates_are_the_models_own_pre_activations():
    from phasekit.models import cnn

    module = cnn.ConvTanhDense(4, (3, 3), 1)
    x = jax.random.normal(jax.random.key(0), (3, 6, 6, 1))
    v = module.init(jax.random.key(1), x)
    conv, out = D.flax_intermediates(module, x, names=("Conv_0",))(v)
    k, b = v["params"]["Conv_0"]["kernel"], v["params"]["Conv_0"]["bias"]
    want = (
        jax.lax.conv_general_dilated(
            x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        + b
    )
    np.testing.assert_allclose(conv, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, module.apply(v, x), rtol=1e-6)


def test_deep_phase_diagram_slice_and_its_boundaries():
    assert P.phase_slice(1.0, 0.0, 2) == P.mup(2)
    assert P.classify(P.phase_slice(1.0, 0.0, 3)).regime == "feature learning"
    assert P.classify(P.phase_slice(1.0, 0.5, 2)).regime == "trivial"
    assert P.classify(P.phase_slice(0.5, 1.0, 2)).regime == "kernel"
    assert P.classify(P.phase_slice(1.0, -0.25, 2)).regime == "unstable"
    assert P.clear_of_boundaries(1.25, 0.0, 2)  # on the feature-learning line, clear of its ends
    assert not P.clear_of_boundaries(1.0, 0.0, 2)  # muP sits at the corner beta_out = 1
    assert P.clear_of_boundaries(0.75, 0.25, 2)  # r = 0 yet unstable (beta_out + r < 1) all around
    assert not P.clear_of_boundaries(
        0.75, 0.5, 2
    )  # kernel, on beta_out + r = 1: c - 0.1 is unstable
    assert D.measured_regime(0.05, 0.0, False) == "feature learning"
    assert D.measured_regime(-0.4, -0.2, False) == "kernel"
    assert (
        D.measured_regime(0.0, 0.6, False) == "unstable"
        and D.measured_regime(-1.0, -1.0, True) == "unstable"
    )


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_mup_is_tp4_table_9(opt):
    # TP4 Table 9 (muP in the mup package's style): input weights & all biases: init var 1/fan_out,
    # multiplier sqrt(fan_out), SGD lr 1, Adam lr 1/sqrt(fan_out); hidden: 1/fan_in, 1, 1, 1/fan_in;
    # output: 1/fan_in, 1/sqrt(fan_in), 1, 1/sqrt(fan_in). (phasekit's input init also divides by the
    # fixed fan-in d, a width-independent constant.)
    sizes = [5, 64, 256, 3]
    template, roles = _mlp_setup(sizes, dtype=jnp.float32)
    p = P.mup(2, opt)
    mult, std, lr = (
        P.multipliers(template, roles, p),
        P.init_std(template, roles, p),
        P.lr_scales(template, roles, p),
    )
    d, n1, n2 = sizes[0], sizes[1], sizes[2]
    adam = opt == "adam"
    table = [  # (layer, leaf, var, multiplier, lr)
        (0, "w", 1 / (n1 * d), n1**0.5, n1**-0.5 if adam else 1.0),
        (0, "b", 1 / n1, n1**0.5, n1**-0.5 if adam else 1.0),
        (1, "w", 1 / n1, 1.0, 1 / n1 if adam else 1.0),
        (1, "b", 1 / n2, n2**0.5, n2**-0.5 if adam else 1.0),
        (2, "w", 1 / n2, n2**-0.5, n2**-0.5 if adam else 1.0),
    ]
    for l, k, var, m, r in table:
        assert std[l][k] ** 2 == pytest.approx(var, rel=1e-12), (l, k)
        assert mult[l][k] == pytest.approx(m, rel=1e-12), (l, k)
        assert lr[l][k] == pytest.approx(r, rel=1e-12), (l, k)
