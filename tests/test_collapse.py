"""Neural-collapse measures on planted geometries (spec 07: a simplex ETF gives NC1 = 0 and
cosines -1/(C - 1))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasekit.theory import collapse

C, D, PER = 5, 8, 7


def _planted(noise=0.0, key=0):
    etf = 3.0 * collapse.simplex_etf(C, D) + 0.5  # scaled and shifted ETF: mu_G = 0.5
    y = jnp.repeat(jnp.arange(C), PER)
    h = etf[y] + noise * jax.random.normal(jax.random.key(key), (C * PER, D))
    return h, y, etf


def test_simplex_etf_is_unit_norm_with_cosines_minus_one_over_c_minus_one():
    m = np.asarray(collapse.simplex_etf(C))
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, rtol=1e-6)
    g = m @ m.T
    np.testing.assert_allclose(g[~np.eye(C, dtype=bool)], -1 / (C - 1), atol=1e-6)


def test_planted_etf_has_full_collapse():
    h, y, etf = _planted()
    w = (etf - etf.mean(0)).T  # classifier = centred means: self-dual
    logits = h @ w
    col = jax.jit(collapse.neural_collapse, static_argnums=4)(
        h, y, w, logits, C
    )  # one compile, not op by op
    assert float(col.nc1) == pytest.approx(0.0, abs=1e-10)
    assert float(col.equinorm) == pytest.approx(0.0, abs=1e-5)
    assert float(col.cos_mean) == pytest.approx(-1 / (C - 1), abs=1e-5)
    assert float(col.equiangularity) == pytest.approx(0.0, abs=1e-5)
    assert float(col.nc3) == pytest.approx(0.0, abs=1e-5)
    assert float(col.nc4) == 1.0


def test_nc1_equals_its_formula_and_grows_with_within_class_noise():
    h, y, _ = _planted(noise=0.3)
    hn, yn = np.asarray(h, np.float64), np.asarray(y)
    mu = np.stack([hn[yn == c].mean(0) for c in range(C)])
    sw = sum(np.outer(r, r) for r in hn - mu[yn]) / len(yn)
    cm = mu - hn.mean(0)
    sb = cm.T @ cm / C
    want = np.trace(sw @ np.linalg.pinv(sb)) / C
    assert float(collapse.nc1(h, y, C)) == pytest.approx(want, rel=1e-4)
    assert float(collapse.nc1(*_planted(noise=0.6)[:2], C)) > want > 0


def test_random_features_do_not_collapse():
    key = jax.random.key(1)
    h = jax.random.normal(key, (200, D))
    y = jax.random.randint(jax.random.key(2), (200,), 0, C)
    assert float(collapse.nc1(h, y, C)) > 1.0  # within-class spread dominates the tiny means
    assert float(collapse.nc2(h, y, C).equiangularity) > 0.05


def test_nc3_is_scale_invariant_and_nc4_counts_disagreement():
    h, y, etf = _planted(noise=0.1)
    w = (etf - etf.mean(0)).T
    assert float(collapse.nc3(h, y, 7.0 * w, C)) == pytest.approx(
        float(collapse.nc3(h, y, w, C)), abs=1e-6
    )
    logits = h @ w
    wrong = logits.at[:PER, :].set(0.0).at[:PER, 1].set(1.0)  # class-0 samples now predicted 1
    assert float(collapse.nc4(h, y, wrong, C)) == pytest.approx(1 - PER / (C * PER))


def test_measures_vmap_over_seeds():
    hs = jnp.stack([_planted(noise=s, key=k)[0] for k, s in enumerate((0.1, 0.2))])
    y = _planted()[1]
    out = jax.jit(jax.vmap(lambda h: collapse.nc1(h, y, C)))(hs)
    assert out.shape == (2,) and out[1] > out[0] > 0
