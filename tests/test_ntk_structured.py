"""Structured NTK of any function (rules read off the jaxpr) = J1 J2^T; plans; jit caching."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.models import mlp
from phasekit.theory import ntk


def jacrev_ntk(apply_fn, params, x1, x2):
    """Reference Theta = J1 J2^T from full-batch jax.jacrev, [n1, n2, *out, *out] (no tracing)."""

    def flat(x):
        out = apply_fn(params, x).shape
        jac = jax.jacrev(lambda p: apply_fn(p, x))(params)
        return jnp.concatenate(
            [j.reshape(out + (-1,)) for j in jax.tree_util.tree_leaves(jac)], axis=-1
        ), out

    (j1, o1), (j2, _) = flat(x1), flat(x2)
    if len(o1) == 1:
        return j1 @ j2.T
    return jnp.einsum("icp,jdp->ijcd", j1, j2)


def rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def user_mlp(w, x):
    """A researcher's own 3-layer softplus MLP with two outputs, written on a dict of weights."""
    h = jax.nn.softplus(x @ w["W1"] + w["b1"])
    h = jax.nn.softplus(h @ w["W2"] + w["b2"])
    return h @ w["W3"] + w["b3"]


class ConvNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Conv(3, (3, 3), padding="SAME")(x))
        h = jnp.tanh(nn.Conv(4, (2, 2), strides=2, padding="VALID")(h))
        return nn.Dense(2)(h.reshape((h.shape[0], -1)))


class AttentionBlock(nn.Module):
    """Pre-norm self-attention block with residual, then mean pooling and a dense read-out."""

    @nn.compact
    def __call__(self, x):
        h = x + nn.SelfAttention(num_heads=2, qkv_features=16)(nn.LayerNorm()(x))
        return nn.Dense(2)(jnp.mean(h, axis=1))


def cases():
    rng = np.random.default_rng(0)
    sizes = [(3, 8), (8, 6), (6, 2)]
    w = {}
    for i, (a, b) in enumerate(sizes, 1):
        w[f"W{i}"] = jnp.asarray(rng.normal(size=(a, b)) / np.sqrt(a), jnp.float32)
        w[f"b{i}"] = jnp.asarray(0.1 * rng.normal(size=b), jnp.float32)
    x = jnp.asarray(rng.normal(size=(9, 3)), jnp.float32)
    images = jnp.asarray(rng.normal(size=(7, 6, 6, 2)), jnp.float32)
    seqs = jnp.asarray(rng.normal(size=(6, 3, 16)), jnp.float32)
    conv, attn = ConvNet(), AttentionBlock()
    conv_params = jax.jit(conv.init)(jax.random.key(1), images[:1])["params"]
    attn_params = jax.jit(attn.init)(jax.random.key(2), seqs[:1])["params"]
    return {
        "user_mlp": (user_mlp, w, x[:5], x[5:]),
        "flax_cnn": (
            lambda p, x: conv.apply({"params": p}, x),
            conv_params,
            images[:4],
            images[4:],
        ),
        "flax_attention": (
            lambda p, x: attn.apply({"params": p}, x),
            attn_params,
            seqs[:4],
            seqs[4:],
        ),
        "phasekit_mlp": (
            functools.partial(mlp.apply, activation="softplus"),
            jax.jit(lambda k: mlp.init(k, [3, 8, 6, 2], scheme="he"))(jax.random.key(3)),
            x[:5],
            x[5:],
        ),
    }


CASES = cases()


@pytest.mark.parametrize("name", list(CASES))
def test_structured_equals_jacobian_product(name):
    """Theta(x1, x2) = J1 J2^T to 1e-5 in float32: traced over the two outputs, full output-output
    kernel, x2 = x1 (and in blocks of 3 samples on the user's MLP); 'auto' chooses the structured path."""
    f, params, x1, x2 = CASES[name]
    assert ntk.ntk_plan(f, params, x1).implementation == "structured"
    trace = lambda k: jnp.einsum("ijcc->ij", k)

    @jax.jit  # one compilation for the reference and all variants
    def kernels(params):
        ref, ref_sym = jacrev_ntk(f, params, x1, x2), jacrev_ntk(f, params, x1, x1)
        out = {
            "auto": (ntk.empirical_ntk(f, params, x1, x2), trace(ref)),
            "untraced": (
                ntk.empirical_ntk(f, params, x1, x2, implementation="structured", trace_axes=()),
                ref,
            ),
            "symmetric": (
                ntk.empirical_ntk(f, params, x1, implementation="structured"),
                trace(ref_sym),
            ),
        }
        if name == "user_mlp":  # blocks: the same code for every model
            out["blocks"] = (ntk.empirical_ntk(f, params, x1, x2, batch_size=3), trace(ref))
        return out

    for label, (kernel, want) in kernels(params).items():
        assert kernel.shape == want.shape, label
        assert rel(kernel, want) < 1e-5, (label, rel(kernel, want))


def test_plans_give_every_layer_its_rule_and_the_rest_their_jacobians():
    """Weights of dense, conv and attention projections get a rule; biases, LayerNorm scales
    fall back; attention's projections over 3 positions use the Gram form, convs the gradients."""
    plans = {name: ntk.ntk_plan(f, p, x1) for name, (f, p, x1, _) in CASES.items()}
    rules = lambda name: {s.split(": ")[0]: s.split(": ")[1] for s in plans[name].structured}
    assert rules("user_mlp") == {f"['W{i}']": "dot_general (gram)" for i in (1, 2, 3)}
    assert set(plans["user_mlp"].fallback) == {"['b1']", "['b2']", "['b3']"}
    assert [r.split(" ")[0] for r in rules("flax_cnn").values()] == ["conv_general_dilated"] * 2 + [
        "dot_general"
    ]
    attn = rules("flax_attention")
    for proj in ("query", "key", "value", "out"):
        assert f"['SelfAttention_0']['{proj}']['kernel']" in attn
    assert attn["['SelfAttention_0']['query']['kernel']"] == "dot_general (gram)"
    assert "['LayerNorm_0']['scale']" in plans["flax_attention"].fallback
    # the same model through module.apply on variables and through a lambda: the same rules
    conv = ConvNet()
    _, params, x1, _ = CASES["flax_cnn"]
    bare = ntk.ntk_plan(conv.apply, {"params": params}, x1)
    assert len(bare.structured) == len(plans["flax_cnn"].structured)
    _, w, x, _ = CASES["user_mlp"]
    _, mlp_params, _, _ = CASES["phasekit_mlp"]  # a lambda around phasekit's model: the same plan
    assert ntk.ntk_plan(lambda p, x: mlp.apply(p, x), mlp_params, x) == ntk.ntk_plan(
        mlp.apply, mlp_params, x
    )
    assert len(ntk.ntk_plan(mlp.apply, mlp_params, x).structured) == 3
    assert ntk.ntk_plan(user_mlp, w, x, implementation="ntvp").implementation == "ntvp"


def test_shared_and_elementwise_parameters_fall_back_exactly():
    """A weight used twice (tied) and an elementwise scale have no layer rule: their Jacobian
    terms are added, and the kernel is still J1 J2^T."""

    def tied(p, x):
        h = jnp.tanh(x @ p["W"]) * p["s"]
        return jnp.tanh(h @ p["W"].T) @ p["V"]

    rng = np.random.default_rng(4)
    p = {
        "W": jnp.asarray(rng.normal(size=(4, 4)), jnp.float32) / 2,
        "s": jnp.asarray(rng.normal(size=4), jnp.float32),
        "V": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
    }
    x = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    got = ntk.empirical_ntk(tied, p, x, return_plan=True)
    assert set(got.plan.fallback) == {"['W']", "['s']"} and got.plan.structured == (
        "['V']: dot_general (gram)",
    )
    assert rel(got.kernel, jnp.einsum("ijcc->ij", jacrev_ntk(tied, p, x, x))) < 1e-5


def test_closure_over_traced_values_and_vmap():
    """apply_fn closing over a traced scale s inside jit: Theta_s f = s^2 Theta_f; vmap over seeds."""
    f, params, x1, x2 = CASES["user_mlp"]
    base = ntk.empirical_ntk(f, params, x1, x2)
    scaled = jax.jit(lambda p, s: ntk.empirical_ntk(lambda q, x: s * f(q, x), p, x1, x2))(
        params, 3.0
    )
    assert rel(scaled, 9.0 * base) < 1e-5
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a]), params)
    batched = jax.vmap(lambda p: ntk.empirical_ntk(f, p, x1, x2))(stacked)
    doubled = jax.tree_util.tree_map(lambda a: 2 * a, params)
    assert (
        rel(batched[0], base) < 1e-6
        and rel(batched[1], ntk.empirical_ntk(f, doubled, x1, x2)) < 1e-5
    )


def test_compiled_program_is_reused_for_a_new_partial():
    """A functools.partial made anew with equal arguments hits the jit cache (no recompilation)."""
    params = CASES["phasekit_mlp"][1]
    x = CASES["phasekit_mlp"][2]
    ntk.empirical_ntk(functools.partial(mlp.apply, activation="tanh"), params, x)
    before = ntk._ntk._cache_size()
    for _ in range(3):
        ntk.empirical_ntk(functools.partial(mlp.apply, activation="tanh"), params, x)
    assert ntk._ntk._cache_size() == before
    ntk.empirical_ntk(functools.partial(mlp.apply, activation="relu"), params, x)
    assert ntk._ntk._cache_size() == before + 1
