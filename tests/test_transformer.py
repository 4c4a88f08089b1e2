"""The ch. 13 decoder (eq. 13.3-13.6): a hand-written forward pass, the causal mask, the init
rate gamma as a multiplier, the attention-masking hook."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import transformer

V, T, D, H, DK, DFF = 30, 9, 12, 2, 5, 20
apply = jax.jit(
    transformer.apply, static_argnames=("positions",)
)  # eager op-by-op dispatch is slow


def _variables(key=0, gamma=0.0):
    v = transformer.init(jax.random.key(key), V, T, d_model=D, depth=2, heads=H, d_k=DK, d_ff=DFF)
    v = transformer.rescale(v, gamma)
    # non-trivial biases and LayerNorm parameters, so that the reference checks them too
    leaves, tree = jax.tree_util.tree_flatten(v)
    rng = np.random.default_rng(99)
    leaves = [
        x + 0.3 * rng.standard_normal(x.shape, np.float32) if x.ndim == 1 else x for x in leaves
    ]
    return jax.tree_util.tree_unflatten(tree, leaves)


def _ln(h, p):
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)
    return (h - mu) / jnp.sqrt(var + 1e-6) * p["scale"] + p["bias"]


@jax.jit
def _jit_reference(v, tokens, zero_mask):
    return reference(v, tokens, zero_mask=zero_mask)


@jax.jit
def _jit_reference_hidden(v, tokens, zero_mask):
    return reference(v, tokens, zero_mask=zero_mask, hidden=True)


def reference(v, tokens, zero=None, zero_mask=None, hidden=False):
    """Eq. 13.3-13.6 written out; ``zero=(layer, query, key)`` zeroes that attention entry."""
    p = v["params"]
    h = p["token_embedding"]["embedding"][tokens] + p["position_embedding"][: tokens.shape[1]]
    for l in range(2):
        b = p[f"block_{l}"]
        q, k, val = (
            jnp.einsum("ntd,dhe->nthe", h, b[n]["kernel"]) for n in ("query", "key", "value")
        )
        s = jnp.einsum("nqhe,nkhe->nhqk", q, k) / np.sqrt(DK)
        s = jnp.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        a = jax.nn.softmax(s, -1)
        if zero is not None and zero[0] == l:
            a = a.at[:, :, zero[1], zero[2]].set(0.0)
        if zero_mask is not None:
            a = a * zero_mask[l]
        o = jnp.einsum("nhqk,nkhe->nqhe", a, val)
        u = _ln(h + jnp.einsum("nqhe,hed->nqd", o, b["out"]["kernel"]), b["ln_attention"])
        m = (
            jax.nn.relu(u @ b["mlp_in"]["kernel"] + b["mlp_in"]["bias"]) @ b["mlp_out"]["kernel"]
            + b["mlp_out"]["bias"]
        )
        h = _ln(u + m, b["ln_mlp"])
    if hidden:
        return h[:, -1]
    return h[:, -1] @ p["readout"]["kernel"] + p["readout"]["bias"]


def _tokens(key=1, n=6):
    return jax.random.randint(jax.random.key(key), (n, T), 0, V)


def test_forward_pass_is_eq_13_3_to_13_6():
    v, x = _variables(gamma=0.3), _tokens()
    np.testing.assert_allclose(apply(v, x), _jit_reference(v, x, None), rtol=1e-4, atol=1e-4)


def test_causal_mask_output_at_t_ignores_later_tokens():
    v, x = _variables(), _tokens()
    t = 4
    y = x.at[:, t + 1 :].set((x[:, t + 1 :] + 7) % V)
    a, b = apply(v, x, positions="all"), apply(v, y, positions="all")
    np.testing.assert_allclose(a[:, : t + 1], b[:, : t + 1], rtol=1e-5, atol=1e-5)
    assert (
        np.abs(np.asarray(a[:, t + 1 :] - b[:, t + 1 :])).max() > 1e-3
    )  # later outputs do see them


@pytest.mark.parametrize("gamma", [0.2, 0.8])
def test_gamma_multiplier_equals_direct_init_with_std_d_in_to_minus_gamma(gamma):
    scaled = transformer.rescale(transformer.init(jax.random.key(5), V, T, D, 2, H, DK, DFF), gamma)
    # the direct draw: one N(0, 1) vector cut into the weights in leaf order, each times d_in^-gamma
    d_in = {
        "query": D,
        "key": D,
        "value": D,
        "out": H * DK,
        "mlp_in": D,
        "mlp_out": DFF,
        "readout": D,
        "token_embedding": D,
        "position_embedding": D,
    }
    paths, tree = jax.tree_util.tree_flatten_with_path(scaled["params"])
    names = [[k.key for k in p] for p, _ in paths]
    weight = [n[-1] in ("kernel", "embedding", "position_embedding") for n in names]
    z = np.asarray(
        jax.random.normal(
            jax.random.key(5), (sum(x.size for (_, x), w in zip(paths, weight) if w),)
        )
    )
    start = 0
    for n, (_, x), w in zip(names, paths, weight):
        if not w:
            assert np.all(x == (1.0 if n[-1] == "scale" else 0.0))
            continue
        layer = n[-1] if n[-1] == "position_embedding" else n[-2]
        direct = z[start : start + x.size].reshape(x.shape) * d_in[layer] ** (-gamma)
        np.testing.assert_allclose(x, direct, rtol=1e-5, atol=1e-8)
        start += x.size
    kernel = scaled["params"]["block_0"]["mlp_out"]["kernel"]
    assert float(jnp.std(kernel)) == pytest.approx(DFF**-gamma, rel=0.15)


def test_gamma_is_traced_under_vmap():
    v = transformer.init(jax.random.key(0), V, T, D, 2, H, DK, DFF)
    gammas = jnp.array([0.2, 0.5, 0.8])
    x = _tokens()
    one = jax.jit(lambda g: transformer.apply(transformer.rescale(v, g), x))
    many = jax.jit(jax.vmap(one))(gammas)
    for i, g in enumerate(gammas):
        np.testing.assert_allclose(many[i], one(float(g)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer,query,key", [(0, 8, 3), (1, 8, 8), (0, 5, 0)])
def test_masking_hook_equals_hand_zeroed_attention(layer, query, key):
    v, x = _variables(), _tokens()
    mask = jnp.ones((2, 1, 1, T, T)).at[layer, :, :, query, key].set(0.0)
    masked = apply(v, x, attention_mask=mask)
    by_hand = np.ones((2, T, T), np.float32)  # the row of query token `query`, entry `key`, zeroed
    by_hand[layer, query, key] = 0.0
    np.testing.assert_allclose(
        masked, _jit_reference(v, x, by_hand[:, None, None]), rtol=1e-4, atol=1e-4
    )
    if query == T - 1 or layer == 0:
        assert np.abs(np.asarray(masked - apply(v, x))).max() > 1e-4
    inter = jax.jit(transformer.intermediates)(v, x, mask)
    assert float(jnp.abs(inter["attention"][layer, :, :, query, key]).max()) == 0.0
    np.testing.assert_allclose(inter["logits"], masked, rtol=1e-6)


def test_bad_arguments_raise():
    v = _variables()
    with pytest.raises(ValueError, match="positions"):
        transformer.apply(v, _tokens(), positions="first")
    with pytest.raises(ValueError, match="tokens"):
        transformer.apply(v, jnp.zeros((2, T + 1), jnp.int32))
    with pytest.raises(ValueError, match="depth"):
        transformer.init(jax.random.key(0), V, T, depth=0)


def test_masking_probes_equal_hand_zeroed_attention_rows():
    """The probes' hook (the last token's attention to one position per sequence, every layer)
    is the reference forward pass with those attention entries zeroed by hand."""
    v, x = _variables(), _tokens()
    pos = np.array([0, 2, 3, 5, 6, 1])
    mask = transformer.mask_attention_to(pos, T, 2)
    assert mask.shape == (2, 6, 1, T, T) and float(mask.sum()) == 2 * 6 * (T * T - 1)
    by_hand = np.ones((2, 6, 1, T, T), np.float32)
    for i, p in enumerate(pos):
        by_hand[:, i, 0, T - 1, p] = 0.0
    h_masked = jax.jit(transformer.last_hidden)(v, x, mask)
    np.testing.assert_allclose(h_masked, _jit_reference_hidden(v, x, by_hand), rtol=1e-4, atol=1e-4)
    h = _jit_reference_hidden(v, x, None)
    np.testing.assert_allclose(jax.jit(transformer.last_hidden)(v, x), h, rtol=1e-4, atol=1e-4)
    cos = jax.jit(transformer.masking_cosine)(v, x, mask)
    ref = np.sum(h * h_masked, -1) / np.linalg.norm(h, axis=-1) / np.linalg.norm(h_masked, axis=-1)
    np.testing.assert_allclose(cos, ref, rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(cos) < 1 - 1e-6)  # the cut changes every sequence's output
    np.testing.assert_allclose(
        transformer.masking_cosine(v, x, jnp.ones((2, 6, 1, T, T))), 1.0, rtol=1e-5
    )


def test_variance_share_and_representation_pca():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(5), 40)
    means = rng.standard_normal((5, 3))
    # a pure function of the group: share 1; plus noise: the ANOVA share computed by hand
    assert float(transformer.variance_share(means[groups], groups, 5)) == pytest.approx(1.0)
    h = means[groups] + rng.standard_normal((200, 3))
    c = h - h.mean(0)
    between = sum(40 * np.sum((h[groups == g].mean(0) - h.mean(0)) ** 2) for g in range(5))
    assert float(transformer.variance_share(h, groups, 5)) == pytest.approx(
        between / np.sum(c**2), rel=1e-5
    )
    # PCA: coordinates on the top axes carry the largest variances, in order, and are centered
    pc = np.asarray(transformer.representation_pca(h, 2))
    ev = np.linalg.eigvalsh(np.cov(c.T))[::-1]
    np.testing.assert_allclose(pc.var(0, ddof=1), ev[:2], rtol=1e-4)
    np.testing.assert_allclose(pc.mean(0), 0.0, atol=1e-5)
