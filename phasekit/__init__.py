"""phasekit: a JAX/Flax toolkit for the science of how neural networks train.

Subpackages follow one dependency direction: models <- theory <- dynamics <- scripts/viz.
"""

__version__ = "0.1.0"
