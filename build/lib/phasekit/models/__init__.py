"""Pure (init, apply) models: two-layer nets with (alpha, beta1, beta2) scaling, deep MLPs, toys."""

from phasekit.models import activations, mlp, toys, two_layer

__all__ = ["activations", "mlp", "toys", "two_layer"]
