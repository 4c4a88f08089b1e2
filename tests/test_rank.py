"""Model rank (book ch. 10): the numerical rank of the tangent functions equals the closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import conv1d, toys, two_layer
from phasekit.theory import optimistic as opt
from phasekit.theory.rank import model_rank, optimistic_sample_size, tangent_rank_profile

RNG = np.random.default_rng(0)
X2 = RNG.standard_normal((60, 2))
ENTRIES = jnp.asarray([(i, j) for i in range(4) for j in range(4)])


def tanh_net(p, x):
    return two_layer.apply(p, x, "tanh")


def fixed_bias_pair(p, x):
    """f = a1 tanh(w1.x + 1) + a2 tanh(w2.x + 1): the bias is fixed, only a, w are parameters."""
    return two_layer.apply({**p, "b": jnp.ones(2)}, x, "tanh")


def assert_rank(res, expected):
    assert res.rank == expected, (res.rank, res.singular_values)
    assert res.gap > 1e6  # the rank is unambiguous, not a tolerance artefact


def test_linear_model_rank_is_number_of_params():
    # f = x . theta: tangent functions are the k coordinates, independent at every theta
    assert_rank(
        model_rank(
            toys.linear_apply, jnp.asarray(RNG.standard_normal(5)), RNG.standard_normal((40, 5))
        ),
        opt.linear(5),
    )


@pytest.mark.parametrize(
    "theta, expected", [([0.3, -1.2, 0.7, 1.1], 3), ([0.3, -1.2, 0.0, 0.0], 2)]
)
def test_f_nl_rank(theta, expected):
    # f_NL = t0 + t1 x1 + t2 t3 x2: d/dt2 = t3 x2, d/dt3 = t2 x2 vanish together only at t2 = t3 = 0
    assert_rank(model_rank(toys.f_nl_apply, jnp.asarray(theta), X2), expected)
    assert opt.f_nl(theta[2] * theta[3]) == expected


def test_fixed_bias_tanh_pair_q1_rank3_q2_q3_rank4():
    abar, wbar = 1.3, jnp.asarray([0.7, -0.4])
    w_other = jnp.asarray([-1.1, 0.5])
    q1 = {"a": jnp.asarray([0.3 * abar, 0.7 * abar]), "w": jnp.stack([wbar, wbar])}
    q2 = {"a": jnp.asarray([abar, 0.0]), "w": jnp.stack([wbar, w_other])}
    q3 = {"a": jnp.asarray([0.0, abar]), "w": jnp.stack([w_other, wbar])}
    target = abar * jnp.tanh(X2 @ wbar + 1)
    for p, r in [(q1, 3), (q2, 4), (q3, 4)]:
        np.testing.assert_allclose(
            fixed_bias_pair(p, X2), target, atol=1e-6
        )  # all on the target set
        assert_rank(model_rank(fixed_bias_pair, p, X2), r)


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_matrix_factorization_rank_2rd_minus_r2(r):
    target = RNG.standard_normal((4, r)) @ RNG.standard_normal((r, 4))
    p = opt.matrix_factorization_point(target)
    np.testing.assert_allclose(p["A"] @ p["B"], target, atol=1e-10)
    if r < 4:
        res = model_rank(toys.matrix_factorization_apply, p, ENTRIES)
    else:  # 16 = all entries: the function space itself is full, and the warning says so
        with pytest.warns(UserWarning, match="saturated"):
            res = model_rank(toys.matrix_factorization_apply, p, ENTRIES)
    assert_rank(res, opt.matrix_factorization(4, r))
    assert [optimistic_sample_size("matrix_factorization", d=4, r=k) for k in (1, 2, 3, 4)] == [
        7,
        12,
        15,
        16,
    ]


@pytest.mark.parametrize("k, d, m", [(1, 1, 4), (2, 3, 10), (3, 2, 25), (4, 3, 12)])
def test_two_layer_teacher_in_wider_student_rank_k_d_plus_1(k, d, m):
    teacher = two_layer.init(jax.random.key(10 * k + d), k, d, bias=False)
    student = opt.two_layer_point(teacher, m)
    x = RNG.standard_normal((300, d))
    np.testing.assert_allclose(tanh_net(student, x), tanh_net(teacher, x), atol=1e-6)
    assert_rank(model_rank(tanh_net, student, x), opt.two_layer(k, d))
    assert opt.two_layer(k, d) < m * (d + 1)  # far below the parameter count


def test_two_layer_with_bias_rank_k_d_plus_2():
    teacher = two_layer.init(jax.random.key(3), 2, 2, bias=True)
    x = RNG.standard_normal((300, 2))
    assert_rank(
        model_rank(tanh_net, opt.two_layer_point(teacher, 9), x), opt.two_layer(2, 2, bias=True)
    )


def test_rank_invariant_to_point_set_once_saturated():
    teacher = two_layer.init(jax.random.key(5), 3, 2, bias=False)
    student = opt.two_layer_point(teacher, 8)
    for f, p, d in [
        (tanh_net, student, 2),
        (toys.f_nl_apply, jnp.asarray([0.1, 0.2, 0.3, 0.4]), 2),
    ]:
        a = model_rank(f, p, RNG.standard_normal((200, d)))
        b = model_rank(f, p, 3 * RNG.uniform(-1, 1, (500, d)))
        assert a.rank == b.rank and a.gap > 1e6 and b.gap > 1e6


def test_sketch_agrees_with_dense():
    teacher = two_layer.init(jax.random.key(6), 3, 3, bias=False)
    student = opt.two_layer_point(teacher, 40)
    x = RNG.standard_normal((400, 3))
    dense = model_rank(tanh_net, student, x, method="dense")
    sketch = model_rank(tanh_net, student, x, method="sketch", sketch_start=4, block_size=64)
    assert sketch.method == "sketch" and sketch.singular_values.size < dense.singular_values.size
    assert sketch.rank == dense.rank == 12
    np.testing.assert_allclose(sketch.singular_values[:12], dense.singular_values[:12], rtol=1e-8)


def test_block_size_does_not_change_the_singular_values():
    p = two_layer.init(jax.random.key(7), 5, 2, bias=True)
    a = model_rank(tanh_net, p, X2, block_size=7)
    b = model_rank(tanh_net, p, X2, block_size=60)
    np.testing.assert_allclose(a.singular_values, b.singular_values, rtol=1e-10, atol=1e-13)


def test_vector_output_rows_are_point_output_pairs():
    # f(x) = x W, W in R^{3 x 2}: the 6 tangent functions e_i x_j are independent -> rank 6,
    # with N * 2 rows; dense and sketch (with a padded last block) agree
    x = RNG.standard_normal((25, 3))
    f = lambda W, x: x @ W
    for kw in ({}, {"method": "sketch", "block_size": 7, "sketch_start": 2}):
        res = model_rank(f, jnp.asarray(RNG.standard_normal((3, 2))), x, **kw)
        assert res.n_points == 50 and res.n_params == 6
        assert_rank(res, 6)


def test_profile_saturates_at_model_rank():
    prof = tangent_rank_profile(toys.f_nl_apply, jnp.asarray([0.3, -1.2, 0.7, 1.1]), X2[:6])
    np.testing.assert_array_equal(prof.ranks, np.minimum(prof.n_points, 3))
    assert prof.saturated


def test_profile_warns_while_the_rank_still_rises_on_digits_and_not_on_gaussian_inputs():
    """A width-4 tanh net on 64 inputs (M = 260): on Gaussian points R(n) = min(n, 260) reaches
    its plateau; on digits (pixels always zero, the rest strongly correlated) the numerical rank
    keeps creeping up past n = M - (zero pixels) * 4 still at n = 400."""
    import warnings

    from phasekit.data import tabular

    x_digits = np.asarray(tabular.digits()[0])[:400]
    p = two_layer.init(jax.random.key(0), 4, 64, bias=False)
    f = lambda p, x: two_layer.apply(p, x, "tanh")
    n = (100, 300, 400)
    with pytest.warns(UserWarning, match="still rises"):
        prof = tangent_rank_profile(f, p, x_digits, n_points=n)
    assert not prof.saturated and prof.ranks[-1] > prof.ranks[-2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prof = tangent_rank_profile(f, p, RNG.standard_normal((400, 64)), n_points=n)
    np.testing.assert_array_equal(prof.ranks, [100, 260, 260])
    assert prof.saturated


def test_auto_method_takes_the_dense_svd_whenever_the_jacobian_fits_the_memory_budget():
    p = jnp.asarray(RNG.standard_normal((3, 2)))
    x = RNG.standard_normal((50, 2))
    f = lambda p, x: toys.f_nl_apply(p.ravel()[:4], x)
    assert model_rank(f, p, x, warn=False).method == "dense"
    assert model_rank(f, p, x, memory_budget=8 * 50 * 6 - 1, warn=False).method == "sketch"
    assert model_rank(f, p, x, warn=False).dtype == "float64"


def test_warns_when_points_too_few():
    teacher = two_layer.init(jax.random.key(8), 3, 2, bias=False)
    with pytest.warns(UserWarning, match="saturated"):
        res = model_rank(tanh_net, teacher, X2[:5])
    assert res.rank == 5


def test_random_features_rank_is_number_of_distinct_features():
    # Ex. 20: only a trained, f = sum_k a_k tanh(w_k x): rank = number of distinct features
    w = jnp.asarray([[0.5], [0.5], [1.3], [-0.7], [1.3]])
    f = lambda a, x: two_layer.apply({"a": a, "w": w}, x, "tanh")
    assert_rank(model_rank(f, jnp.ones(5), RNG.standard_normal((100, 1))), 3)


# 1-D conv nets of Fig 10.3: teacher kernel [0.6, 0.8, 1] over x in R^5, output weights 1
BOOK_W1 = np.asarray([[0.6, 0.8, 1, 0, 0], [0, 0.6, 0.8, 1, 0], [0, 0, 0.6, 0.8, 1]])


def test_conv_teacher_is_w2_tanh_w1_x_of_the_book():
    np.testing.assert_array_equal(opt.banded_matrix(opt.CONV_KERNEL, 5), BOOK_W1)
    x = RNG.standard_normal((50, 5))
    np.testing.assert_allclose(
        conv1d.apply(opt.conv_teacher(), x), np.tanh(x @ BOOK_W1.T) @ np.ones(3), atol=1e-6
    )


@pytest.mark.parametrize("wider", [1, 3])
def test_conv1d_ranks_at_teacher_match_table_10_1(wider):
    # the teacher written in each architecture (and widened with zero kernels / neurons) is on
    # the target set, in the model's own parameter layout, with the rank of Table 10.1
    x = RNG.standard_normal((200, 5))
    target = conv1d.apply(opt.conv_teacher(), x)
    for arch in opt.CONV_ARCHITECTURES:
        init_fn, apply_fn = opt.conv_model(arch, wider)
        p = opt.conv_teacher_point(arch, wider)
        shapes = lambda t: jax.tree_util.tree_map(jnp.shape, t)
        assert shapes(p) == shapes(init_fn(jax.random.key(0)))
        np.testing.assert_allclose(apply_fn(p, x), target, atol=1e-6)
        assert_rank(model_rank(apply_fn, p, x), opt.conv_sample_size(arch))
    assert [opt.conv_sample_size(a) for a in opt.CONV_ARCHITECTURES] == [6, 12, 18]
    assert [opt.conv_sample_size(a) for a in opt.CONV_ARCHITECTURES] == [
        opt.cnn(5, 3, ndim=1),
        opt.cnn_no_sharing(5, 3, ndim=1),
        opt.fully_connected(5, 3, ndim=1),
    ]


def test_fnl_family_ranks():
    # f_L inside the 4-parameter family: t3 has a zero tangent function, rank 3 at every theta;
    # f_NL: 3, or 2 at t2 = t3 = 0 (the optimistic point of targets in span{1, x1})
    f_l = lambda t, x: opt.fnl_family_apply(t, x, False)
    f_nl = lambda t, x: opt.fnl_family_apply(t, x, True)
    theta = jnp.asarray([0.3, -1.2, 0.7, 1.1])
    np.testing.assert_allclose(f_l(theta, X2), opt.affine_apply(theta[:3], X2), atol=1e-6)
    np.testing.assert_allclose(f_nl(theta, X2), toys.f_nl_apply(theta, X2), atol=1e-6)
    assert_rank(model_rank(f_l, theta, X2), 3)
    assert_rank(model_rank(f_l, jnp.zeros(4), X2), 3)
    assert_rank(model_rank(f_nl, jnp.asarray(opt.f_nl_point(1.0, 1.0, 0.0)), X2), 2)
    sizes = {
        t: (opt.fnl_sample_size("f_L", c), opt.fnl_sample_size("f_NL", c))
        for t, c in opt.FNL_TARGETS.items()
    }
    assert sizes == {
        "1": (3, 2),
        "x1": (3, 2),
        "1+x1": (3, 2),
        "x2": (3, 3),
        "1+x2": (3, 3),
        "x1+x2": (3, 3),
        "1+x1+x2": (3, 3),
    }


def test_table_10_1_numbers():
    # MNIST-like: d = 28, s = 3, one kernel, m_null = 0 (book Table 10.1)
    assert opt.cnn_no_sharing(28, 3) == 6760
    assert opt.fully_connected(28, 3) == 530660
    assert opt.cnn(28, 3) == 9 + 26**2  # the book prints 709 k; s^2 + (d+1-s)^2 gives 685
    assert opt.cnn_no_sharing(28, 3, k=2, m_null=3) == 10 * (2 * 676 - 3)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="rtol"):
        model_rank(toys.f_nl_apply, jnp.ones(4), X2, rtol=2.0)
    with pytest.raises(ValueError, match="method"):
        model_rank(toys.f_nl_apply, jnp.ones(4), X2, method="qr")
    with pytest.raises(ValueError, match="r:"):
        opt.matrix_factorization(4, 5)
    with pytest.raises(ValueError, match="model"):
        optimistic_sample_size("resnet", d=3)
    with pytest.raises(ValueError, match="width"):
        opt.two_layer_point(two_layer.init(jax.random.key(0), 3, 2), 2)
    with pytest.raises(ValueError, match="arch"):
        opt.conv_model("resnet", 1)
    with pytest.raises(ValueError, match="model"):
        opt.fnl_sample_size("f_X", (1, 0, 0))


def test_cross_condition_and_the_cross_determines_a_rank_r_matrix():
    # a rank-r matrix with invertible leading block W is C W^-1 R (its first r columns and rows:
    # the authors' fixed cross); cross_condition is sigma_1 / sigma_r of W
    rng = np.random.default_rng(3)
    for r in (1, 2, 3):
        M = rng.standard_normal((4, r)) @ rng.standard_normal((r, 4))
        C, W, Rw = M[:, :r], M[:r, :r], M[:r, :]
        np.testing.assert_allclose(C @ np.linalg.solve(W, Rw), M, atol=1e-10)
        s = np.linalg.svd(W, compute_uv=False)
        assert opt.cross_condition(M, r) == pytest.approx(s[0] / s[-1])
    assert opt.cross_condition(np.diag([3.0, 1.0, 5.0, 2.0]), 2) == pytest.approx(3.0)
    assert opt.cross_condition(np.diag([0.0, 1.0, 1.0, 1.0]), 2) == np.inf
    with pytest.raises(ValueError, match="r"):
        opt.cross_condition(np.eye(3), 4)
