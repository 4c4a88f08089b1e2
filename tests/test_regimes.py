"""Theory of the phase diagram: Table 7.1 exponents, scaling_for, the boundary (spec 01)."""

import numpy as np
import pytest

from phasekit.models import two_layer
from phasekit.theory import regimes


@pytest.mark.parametrize(
    "name,expected",
    [
        ("lecun", (0.5, 0.5)),
        ("he", (0.5, 0.5)),
        ("xavier", (1.0, 0.0)),
        ("ntk", (0.5, 0.0)),
        ("mean_field", (1.0, 0.0)),
    ],
)
def test_table_7_1_presets_give_the_spec_exponents(name, expected):
    """Analytic limits, and log-log fits of kappa, kappa' over widths 1e6..1e9 (d = 1 and 784;
    Xavier's (m + d) makes small widths d-dependent)."""
    assert regimes.preset_exponents(name) == expected
    for d in (1, 784):
        g, gp = regimes.preset_exponents_fit(name, input_dim=d, widths=(1e6, 1e7, 1e8, 1e9))
        assert g == pytest.approx(expected[0], abs=0.02) and gp == pytest.approx(
            expected[1], abs=0.02
        )


def test_e_et_al_exponents_follow_beta():
    """beta = m^-c gives gamma = gamma' = c."""
    c = 0.75
    widths = [1e3, 1e4, 1e5]
    abb = np.array([two_layer.preset("e_et_al", int(m), 1, beta=m**-c) for m in widths])
    assert regimes.exponents_fit(widths, *abb.T) == pytest.approx((c, c), abs=1e-9)
    assert regimes.preset_exponents("e_et_al", beta_exponent=c) == (c, c)
    assert regimes.regime(c + 1.0, c) == "critical" and regimes.regime(0.3, 0.3) == "linear"


@pytest.mark.parametrize("m", [10, 1000, 40000])
@pytest.mark.parametrize("g,gp", [(0.0, 0.0), (1.75, 0.0), (1.0, -1.0), (0.5, 1.0)])
def test_scaling_for_gives_kappa_m_to_minus_gamma(m, g, gp):
    alpha, b1, b2 = regimes.scaling_for(g, gp, m)
    assert regimes.kappa(alpha, b1, b2) == pytest.approx(m**-g, rel=1e-9)
    assert regimes.kappa_prime(alpha, b1, b2) == pytest.approx(m**-gp, rel=1e-9)


def test_book_exercises():
    """(i) alpha=beta1=beta2=1: (0, 0), linear; (ii) alpha=m^2: (2, 0), condensed;
    (iii) beta2 = 1/m: kappa = 1/m, kappa' = m -> (1, -1), on the critical line."""
    widths = [1e2, 1e3, 1e4]
    ones = np.ones(3)
    w = np.array(widths)
    assert regimes.exponents_fit(widths, ones, ones, ones) == pytest.approx((0, 0), abs=1e-12)
    assert regimes.exponents_fit(widths, w**2, ones, ones) == pytest.approx((2, 0), abs=1e-12)
    assert regimes.exponents_fit(widths, ones, ones, 1 / w) == pytest.approx((1, -1), abs=1e-12)
    assert regimes.regime(0, 0) == "linear"
    assert regimes.regime(2, 0) == "condensed"
    assert regimes.regime(1, -1) == "critical"


def test_boundary_and_regime_map():
    g = np.array([0.5, 1.5, 1.5, 2.0, 1.0, 1.5])
    gp = np.array([0.0, 0.0, 1.0, 1.0, -0.5, 0.5])
    assert list(regimes.regime(g, gp)) == [
        "linear",
        "condensed",
        "linear",
        "critical",
        "critical",
        "critical",
    ]
    np.testing.assert_allclose(
        regimes.boundary_distance([0.5, 1.5, 1.0], [0.0, 0.0, 1.0]),
        [0.5, np.sqrt(2) / 4, np.sqrt(2) / 2],
    )
    assert (
        regimes.regime(1.05, 0.0, tol=0.1) == "critical"
        and regimes.regime(1.05, 0.0) == "condensed"
    )
    np.testing.assert_array_equal(regimes.boundary_curve([-1, 0, 0.5]), [1, 1, 1.5])
