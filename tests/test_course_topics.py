"""The course's remaining topics (spec 07, issue 27): the math each measure states.

preprocessing + conditioning, weight decay vs L2 (SGD, Adam), orthogonal init, layer norm, and
hyperparameter search on the vmapped engine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from phasekit.data import preprocessing as pp
from phasekit.dynamics import train
from phasekit.dynamics import weight_decay as wd
from phasekit.models import mlp, normalized_mlp, orthogonal
from phasekit.theory import conditioning as cond
from phasekit.theory import diagnostics as dg
from phasekit.theory import normalization as norm


def _design(key, n=400, d=6, scale_max=100.0, rho=0.6):
    """Gaussian columns with correlation rho between neighbours, scales geometric in [1, scale_max]."""
    z = jax.random.normal(key, (n, d), jnp.float64)
    z = z.at[:, 1:].set(rho * z[:, :-1] + np.sqrt(1 - rho**2) * z[:, 1:])
    return z * jnp.geomspace(1.0, scale_max, d) + 3.0


# ----------------------------------------------------------------------------- preprocessing


def test_transforms_fit_on_train_and_match_sklearn():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    with jax.enable_x64(True):
        x = _design(jax.random.key(0))
        tr, te = x[:300], x[300:]
        np.testing.assert_allclose(
            pp.fit("standardize", tr)(te), StandardScaler().fit(tr).transform(te), atol=1e-10
        )
        np.testing.assert_allclose(
            pp.fit("min_max", tr)(te), MinMaxScaler().fit(tr).transform(te), atol=1e-10
        )
        # sklearn divides by n - 1: its map is ours times sqrt((n - 1) / n); components up to sign
        ours = pp.fit("whiten", tr)(te)
        theirs = PCA(whiten=True).fit(tr).transform(te) * np.sqrt(300 / 299)
        np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-8)
        w_tr, w_te = pp.fit_apply("whiten", tr, te)
        np.testing.assert_allclose(
            w_tr.T @ w_tr / 300, np.eye(6), atol=1e-12
        )  # on train: exactly I
        assert np.max(np.abs(w_te.T @ w_te / 100 - np.eye(6))) > 1e-3  # the test set is not refit


def _gd_distances(x, y, steps):
    """|w_t - w*| of GD from 0 on |Xw - y|^2 / (2n) with step 2 / (L + mu), every step."""
    s = cond.gram_eigenvalues(x)
    lr = dg.gd_optimal_lr(s[0], s[-1])
    w_star = jnp.linalg.lstsq(x, y)[0]
    loss = lambda w, d: 0.5 * jnp.mean((d[0] @ w - d[1]) ** 2)
    traj = train.run(
        loss,
        jnp.zeros(x.shape[1]),
        (x, y),
        optax.sgd(lr),
        steps=steps,
        record_at=np.arange(steps + 1),
        observe=lambda w: {"d": jnp.linalg.norm(w - w_star)},
    )
    return traj.observables["d"]


@pytest.mark.parametrize("transform", ["raw", "standardize"])
def test_gd_rate_on_least_squares_is_kappa_minus_1_over_kappa_plus_1(transform):
    """Measured contraction of |w_t - w*| = (kappa - 1)/(kappa + 1) to 1e-3, raw and standardized."""
    with jax.enable_x64(True):
        x = _design(jax.random.key(1), scale_max=10.0)
        x = pp.fit(transform, x)(x) if transform != "raw" else x - x.mean(0)
        y = x @ jnp.arange(1.0, 7.0) + 0.1 * jax.random.normal(
            jax.random.key(2), (x.shape[0],), jnp.float64
        )
        kappa = cond.condition_number(x)
        steps = int(min(4000, 40 * float(kappa)))
        dist = _gd_distances(x, y, steps)
        rate = dg.contraction_rate(jnp.arange(steps + 1), dist, floor=1e-13)
        assert abs(float(rate) - float(dg.gd_rate(kappa))) < 1e-3
        # steps to a tolerance: never more than predicted (|e_t| <= r^t |e_0|), and close to it
        measured = int(cond.steps_to_tolerance(dist, 1e-6))
        predicted = int(cond.predicted_gd_steps(kappa, 1e-6))
        assert 0.8 * predicted <= measured <= predicted


def test_whitening_makes_kappa_one_and_gd_converge_in_one_step():
    with jax.enable_x64(True):
        x = _design(jax.random.key(3))
        assert float(cond.condition_number(x - x.mean(0))) > 1e3
        xw = pp.fit("whiten", x)(x)
        assert abs(float(cond.condition_number(xw)) - 1) < 1e-12
        y = xw @ jnp.ones(6)
        dist = _gd_distances(xw, y, 3)
        assert float(dist[1]) < 1e-12 * float(dist[0])
        assert int(cond.predicted_gd_steps(1.0, 1e-6)) == 1


def test_hessian_condition_number_top_over_bottom_nonzero():
    eig = jnp.array([-2.0, 0.0, 1e-12, 0.5, 4.0])
    assert float(cond.hessian_condition_number(eig, rel_tol=1e-6)) == pytest.approx(8.0)


# ----------------------------------------------------------------------------- weight decay


def _xy():
    x = jax.random.normal(jax.random.key(4), (32, 5))
    return x, jnp.tanh(x[:, 0] - x[:, 1])


def test_sgd_weight_decay_equals_l2_with_lambda_beta_over_eta():
    """theta <- (1 - beta) theta - eta g equals SGD on L + (lambda/2)|theta|^2 at lambda = beta/eta,
    step by step (float32 rounding only), and both equal GD on the penalized loss."""
    x, y = _xy()
    loss = train.mse(mlp.apply, activation="tanh")
    p0 = mlp.init(jax.random.key(5), [5, 8, 1])
    eta, beta = 0.1, 0.003
    lam = wd.equivalent_l2(eta, beta)
    penalized = lambda p, d: (
        loss(p, d) + 0.5 * lam * sum(jnp.sum(w**2) for w in jax.tree_util.tree_leaves(p))
    )
    kw = dict(steps=200, record_at=np.arange(0, 201, 10), observe=lambda p: {"p": p})
    a = train.run(loss, p0, (x, y), wd.decoupled_sgd(eta, beta), **kw)
    b = train.run(loss, p0, (x, y), wd.DECAYS["sgd_l2"](eta, lam), **kw)
    c = train.run(penalized, p0, (x, y), optax.sgd(eta), **kw)
    for u, v, w in zip(*(jax.tree_util.tree_leaves(t.observables["p"]) for t in (a, b, c))):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(u, w, rtol=1e-5, atol=1e-6)
    # and the decay is not a no-op: without it the weights differ at this tolerance
    d = train.run(loss, p0, (x, y), optax.sgd(eta), **kw)
    assert (
        max(
            float(jnp.max(jnp.abs(u - v)))
            for u, v in zip(
                jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(d.params)
            )
        )
        > 1e-3
    )


H, T, LAM = jnp.array([1.0, 100.0]), jnp.array([20.0, 20.0]), 0.1


def _adam_on_quadratic(opt, steps=7000):
    loss = lambda th, _: 0.5 * jnp.sum(H * (th - T) ** 2)
    return train.run(loss, jnp.zeros(2), jnp.zeros((1,)), opt, steps=steps, n_records=2).params


def test_adam_l2_and_adamw_differ_by_the_stated_fixed_points():
    """Two parameters with gradient scales h = (1, 100), targets t = 20, decay 0.1:
    Adam + L2 rests at the ridge point h t / (h + lambda) = (18.18, 19.98), shrinkage 9.1% vs 0.1%
    (larger gradients regularized less); AdamW at 1 / lambda = 10 for both (independent of h)."""
    # constant lr until v_hat has forgotten the transient (b2 = 0.99), then decay to damp Adam's jitter
    lr = optax.join_schedules(
        [optax.constant_schedule(0.05), optax.exponential_decay(0.05, 1, 0.998)], [4000]
    )
    l2 = _adam_on_quadratic(wd.adam_l2(lr, LAM, b2=0.99))
    dw = _adam_on_quadratic(wd.adamw(lr, LAM, b2=0.99))
    ridge = wd.ridge_fixed_point(H, T, LAM)
    fixed = wd.adamw_quadratic_fixed_point(H, T, LAM)
    np.testing.assert_allclose(ridge, [20 / 1.1, 2000 / 100.1], rtol=1e-6)
    np.testing.assert_allclose(fixed, [10.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(l2, ridge, atol=2e-3)
    np.testing.assert_allclose(dw, fixed, atol=2e-3)
    gap = np.asarray(l2 - dw)
    np.testing.assert_allclose(gap, np.asarray(ridge - fixed), atol=4e-3)  # (8.18, 9.98)
    assert gap.min() > 8.0


@pytest.mark.parametrize("name", ["adam_l2", "adamw"])
def test_effective_shrinkage_adamw_uniform_adam_l2_inverse_to_gradient_scale(name):
    """One step from the same state: AdamW shrinks every parameter by exactly lr * decay; Adam + L2
    by ~ lr lambda (1 - b1) / (1 - b1^t) / sqrt(v_hat): shrinkage x gradient RMS is constant."""
    lr, lam = 1e-3, 1e-3  # lambda theta << g: the L2 term barely moves v_hat
    th = jnp.array([1.0, 1.0])
    g = jnp.array([1e-2, 1.0])  # gradient scales 100x apart
    make = lambda d: wd.DECAYS[name](lr, d)
    opt = make(lam)
    state = opt.init(th)
    for _ in range(2000):
        _, state = opt.update(g, state, th)
    s = wd.effective_shrinkage(make, lam, state, g, th)
    if name == "adamw":
        np.testing.assert_allclose(s, lr * lam, rtol=1e-4)
    else:
        ratio = np.asarray(s * jnp.sqrt(wd.second_moment(state)))
        np.testing.assert_allclose(ratio, lr * lam * (1 - 0.9), rtol=2e-2)
        assert float(s[0]) > 50 * float(s[1])


# ----------------------------------------------------------------------------- orthogonal init


@pytest.mark.parametrize("depth", [10, 50])
def test_orthogonal_deep_linear_net_has_jacobian_singular_values_one(depth):
    sizes = [16] * (depth + 1)
    x = jax.random.normal(jax.random.key(6), (3, 16))
    p = orthogonal.init(jax.random.key(7), sizes)
    sv = cond.jacobian_singular_values(mlp.apply, p, x, activation="identity")
    np.testing.assert_allclose(sv, 1.0, atol=1e-5)
    g = mlp.init(jax.random.key(7), sizes, scheme="lecun")
    sv_g = cond.jacobian_singular_values(mlp.apply, g, x, activation="identity")
    assert float(cond.log_spread(sv_g).mean()) > 0.3  # Gaussian: the spectrum spreads with depth
    # the linear net's Jacobian is the weight product, the same at every input
    prod = np.linalg.multi_dot([np.asarray(l["w"]) for l in g])
    ref = np.linalg.svd(prod, compute_uv=False)
    np.testing.assert_allclose(sv_g[0], ref, rtol=1e-3, atol=1e-5 * ref[0])


# ----------------------------------------------------------------------------- layer norm


def _ln(widths=(6, 6), layer_norm=True, batch_norm=False):
    m = normalized_mlp.MLP(
        widths, out=3, layer_norm=layer_norm, batch_norm=batch_norm, activation="tanh"
    )
    params, stats = normalized_mlp.init(jax.random.key(8), m, 5)
    return m, params, stats


def test_layer_norm_output_does_not_depend_on_the_rest_of_the_batch():
    m, params, _ = _ln()
    x = jax.random.normal(jax.random.key(9), (8, 5))
    other = x.at[1:].set(10 * jax.random.normal(jax.random.key(10), (7, 5)) + 3)
    a = m.apply({"params": params}, x, train=True)
    b = m.apply({"params": params}, other, train=True)
    np.testing.assert_array_equal(a[0], b[0])
    # batch norm in training mode does depend on it
    mb, pb, sb = _ln(layer_norm=False, batch_norm=True)
    fa, _ = mb.apply({"params": pb, "batch_stats": sb}, x, train=True, mutable=["batch_stats"])
    fb, _ = mb.apply({"params": pb, "batch_stats": sb}, other, train=True, mutable=["batch_stats"])
    assert float(jnp.max(jnp.abs(fa[0] - fb[0]))) > 1e-2


def _ln_loss(m):
    def loss(params, data):
        x, y = data
        return jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(m.apply({"params": params}, x), y)
        )

    return loss


FEEDS_NORM = lambda path: "Dense_0" in path or "Dense_1" in path  # the Dense kernels before an LN


def test_weights_feeding_a_norm_are_scale_invariant():
    """L(c w) = L(w) and <w, grad_w L> = 0 for the kernels feeding LN; not for the output layer."""
    m, params, _ = _ln()
    x = jax.random.normal(jax.random.key(11), (16, 5))
    y = jax.random.randint(jax.random.key(12), (16,), 0, 3)
    loss = _ln_loss(m)
    l0 = loss(params, (x, y))
    for c in (0.3, 4.0):
        np.testing.assert_allclose(loss(norm.rescale(params, FEEDS_NORM, c), (x, y)), l0, rtol=1e-5)
    cos = norm.cosine_weight_gradient(loss, params, (x, y), FEEDS_NORM)
    assert float(jnp.max(jnp.abs(cos))) < 1e-4
    out = norm.cosine_weight_gradient(
        loss, params, (x, y), lambda p: "Dense_2" in p and "kernel" in p
    )
    assert float(jnp.abs(out[0])) > 1e-2
    # grad_w L(c w) = grad_w L(w) / c: the effective learning rate eta / |w|^2
    g1 = jax.grad(loss)(params, (x, y))["Dense_0"]["kernel"]
    g2 = jax.grad(loss)(norm.rescale(params, FEEDS_NORM, 2.0), (x, y))["Dense_0"]["kernel"]
    np.testing.assert_allclose(g2, g1 / 2, rtol=1e-3, atol=1e-7)  # LN epsilon: O(eps / Var z)


@pytest.mark.parametrize("decay", [0.0, 0.01])
def test_gd_norm_growth_identity_with_and_without_decay(decay):
    """|w_{t+1}|^2 = (1 - beta)^2 |w_t|^2 + eta^2 |g_t|^2 along GD, for weights feeding LN."""
    m, params, _ = _ln()
    x = jax.random.normal(jax.random.key(13), (32, 5))
    y = jax.random.randint(jax.random.key(14), (32,), 0, 3)
    loss, lr = _ln_loss(m), 0.5

    def observe(p):
        return {
            "w": norm.squared_norms(p, FEEDS_NORM),
            "g": norm.squared_norms(jax.grad(loss)(p, (x, y)), FEEDS_NORM),
        }

    rec = np.array([0, 1, 20, 21, 100, 101])
    traj = train.run(
        loss, params, (x, y), wd.decoupled_sgd(lr, decay), steps=101, record_at=rec, observe=observe
    )
    w, g = traj.observables["w"], traj.observables["g"]
    pred = norm.next_sq_norm(w[0::2], g[0::2], lr, decay)
    np.testing.assert_allclose(w[1::2], pred, rtol=2e-5)
    if decay == 0:
        assert bool(
            jnp.all(jnp.diff(w, axis=0) >= -1e-5 * w[:-1])
        )  # |w| never shrinks without decay


def test_adam_decay_chain_is_adam_l2_and_adamw_bit_for_bit():
    """The one-program chain with (l2, 0) is adam_l2 and with (0, decay) is optax.adamw exactly."""
    th = {"w": jnp.array([0.3, -2.0, 1.5])}
    loss = lambda p, _: jnp.sum(jnp.array([1.0, 10.0, 0.1]) * (p["w"] - 1.0) ** 2)
    for a, b in (
        (wd.adam_decay(0.01, 0.1, 0.0), wd.adam_l2(0.01, 0.1)),
        (wd.adam_decay(0.01, 0.0, 0.1), wd.adamw(0.01, 0.1)),
    ):
        ta = train.run(loss, th, jnp.zeros((1,)), a, steps=50, n_records=2)
        tb = train.run(loss, th, jnp.zeros((1,)), b, steps=50, n_records=2)
        np.testing.assert_array_equal(ta.params["w"], tb.params["w"])


# ----------------------------------------------------------------------------- square net


def test_square_net_is_the_mlp_forward_and_depth_mask_skips_layers():
    from phasekit.models import square_net

    x = jax.random.normal(jax.random.key(20), (3, 8))
    p = square_net.init(jax.random.key(21), 8, 6, "gaussian")
    np.testing.assert_allclose(
        square_net.apply(p, x, "tanh"),
        mlp.apply(square_net.as_mlp(p), x, "tanh"),
        rtol=1e-5,
        atol=1e-6,
    )
    # depth 3 of a stacked depth-6 net: the first 2 hidden layers and the readout
    short = {"w": jnp.concatenate([p["w"][:2], p["w"][-1:]])}
    np.testing.assert_allclose(
        square_net.apply(p, x, "tanh", depth=3),
        square_net.apply(short, x, "tanh"),
        rtol=1e-6,
        atol=1e-7,
    )
    o = square_net.init(jax.random.key(21), 8, 20, "orthogonal")
    sv = cond.jacobian_singular_values(square_net.apply, o, x)
    np.testing.assert_allclose(sv, 1.0, atol=1e-5)


# ----------------------------------------------------------------------------- search

from phasekit.dynamics import search  # noqa: E402

XS = jax.random.normal(jax.random.key(30), (32, 4))
YS = XS @ jnp.array([1.0, -2.0, 0.5, 0.0])
SPACE = {"lr": (1e-3, 0.5, True), "wd": (1e-6, 1e-4, True), "scale": (0.1, 3.0, True)}


def _make(pt, key):
    w0 = pt["scale"] * jax.random.normal(key, (4,))
    loss = lambda w, d: 0.5 * jnp.mean((d[0] @ w - d[1]) ** 2)
    r = train.resumable(
        loss, w0, (XS, YS), wd.sgd_decay(pt["lr"], 0.0, pt["lr"] * pt["wd"]), steps=90, n_records=2
    )
    return r.then(lambda t: {"val_loss": loss(t.params, (XS, YS))})


def test_space_grid_and_random_points():
    g = search.grid(SPACE, 3)
    assert len(g["lr"]) == 27 and len(np.unique(g["lr"])) == 3
    np.testing.assert_allclose(
        search.to_unit(SPACE, search.from_unit(SPACE, search.to_unit(SPACE, g))),
        search.to_unit(SPACE, g),
        atol=1e-12,
    )
    r = search.random(SPACE, 27, 0)
    assert len(np.unique(r["lr"])) == 27 and np.all((r["lr"] >= 1e-3) & (r["lr"] <= 0.5))
    with pytest.raises(ValueError, match="space"):
        search.check_space({"lr": (0.0, 1.0, True)})
    assert search.rung_budgets(10, 90, 3) == [10, 30, 90]
    assert search.rung_budgets(10, 100, 3) == [10, 30, 90, 100]


def test_evaluate_batch_equals_runs_one_by_one():
    pts, keys = search.random(SPACE, 6, 1), search.trial_keys(0, 6)
    batch = search.evaluate(_make, pts, keys)["val_loss"]
    mapped = search.evaluate(_make, pts, keys, vectorize=False)[
        "val_loss"
    ]  # one trial after another
    np.testing.assert_allclose(batch, mapped, rtol=1e-5, atol=1e-9)
    one = _make({k: jnp.float32(v[2]) for k, v in pts.items()}, keys[2])
    np.testing.assert_allclose(
        batch[2], one.finish(one.advance(one.init(), 90))["val_loss"], rtol=1e-5, atol=1e-9
    )


def test_successive_halving_keeps_the_fraction_refills_lanes_and_warm_starts():
    pts, keys = search.random(SPACE, 9, 2), search.trial_keys(0, 9)
    full = search.evaluate(_make, pts, keys)["val_loss"]
    h = search.halving(
        _make, pts, keys, brackets=[(range(9), 10)], max_steps=90, eta=3, lanes=4, round_steps=7
    )
    sizes = [len(r["ids"]) for r in h.rungs[0]]
    assert sizes == [9, 3, 1] and [r["budget"] for r in h.rungs[0]] == [10, 30, 90]
    for prev, nxt in zip(
        h.rungs[0][:-1], h.rungs[0][1:]
    ):  # the promoted are the best 1/eta of the rung
        np.testing.assert_array_equal(
            np.sort(nxt["ids"]),
            np.sort(prev["ids"][np.argsort(prev["val_loss"])[: len(nxt["ids"])]]),
        )
    busy, lanes, waiting = h.rounds.T
    assert np.all((busy == lanes) | (waiting == 0))  # no lane idle while an item waits
    assert h.steps == 9 * 10 + 3 * 20 + 1 * 60  # warm start: a promotion costs only the extra steps
    # a promoted run continued from its saved state ends where the uninterrupted run ends
    np.testing.assert_allclose(h.best_loss, full[h.best_id], rtol=1e-5)


def test_hyperband_brackets_share_the_lanes():
    br = search.hyperband_brackets(9, 90, 3)
    assert br == [(9, 10), (5, 30), (3, 90)]
    n = sum(b[0] for b in br)
    pts, keys = search.random(SPACE, n, 3), search.trial_keys(0, n)
    ids = np.split(np.arange(n), np.cumsum([b[0] for b in br])[:-1])
    h = search.halving(
        _make,
        pts,
        keys,
        brackets=[(i, r) for i, (_, r) in zip(ids, br)],
        max_steps=90,
        eta=3,
        lanes=4,
        round_steps=10,
    )
    assert [len(r["ids"]) for r in h.rungs[0]] == [9, 3, 1] and [
        len(r["ids"]) for r in h.rungs[1]
    ] == [5, 1]
    busy, lanes, waiting = h.rounds.T
    assert np.all((busy == lanes) | (waiting == 0))


def test_gp_ucb_ask_tell_finds_the_minimum_of_a_bowl():
    bo = search.GPUCB(2, seed=0)
    f = lambda u: np.sum((u - 0.3) ** 2, -1)
    for _ in range(5):
        u = bo.ask(6)
        assert u.shape == (6, 2) and len({tuple(r) for r in u}) == 6  # a batch of distinct points
        bo.tell(u, f(u))
    assert bo.y.min() < 0.01


def test_equilibrium_norm_is_the_fixed_point_of_the_growth_law():
    """With |g|^2 = |g_unit|^2 / |w|^2 (scale invariance), |w|^2 = equilibrium is left unchanged by a step."""
    g_unit, lr, decay = 3.0, 0.1, 0.01
    eq = norm.equilibrium_sq_norm(g_unit, lr, decay)
    np.testing.assert_allclose(norm.next_sq_norm(eq, g_unit / eq, lr, decay), eq, rtol=1e-6)
    assert (
        float(norm.next_sq_norm(2 * eq, g_unit / (2 * eq), lr, decay)) < 2 * eq
    )  # above it, decay wins
