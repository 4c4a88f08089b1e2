"""Condensation / embedding experiment configs: cross-field checks name the field; the sweep
grids have several points (resumable in chunks)."""

import pytest

from phasekit import experiments as E
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
