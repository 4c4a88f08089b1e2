"""Figures of the course diagnostics (:mod:`phasekit.experiments.course`), from the Dataset alone."""

from __future__ import annotations

import numpy as np

from phasekit.viz import landscape


def vanishing_figures(ds) -> dict:
    """{"vanishing_gradients": |dL/dW_l| vs layer, median and range over seeds, per pair}."""
    norms = {str(lab): np.asarray(ds["grad_norm"].values[i]) for i, lab in enumerate(ds["pair_label"].values)}
    fig = landscape.vanishing_gradients(
        norms, title=f"Per-layer gradient norms at init, {ds.attrs.get('depth')}-layer MLP, "
                     f"width {ds.attrs.get('width')}")
    return {"vanishing_gradients": fig}
