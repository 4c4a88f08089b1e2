"""Analysis at a parameter point: NTK, Hessian, rank, embeddings, regimes, landscape.

A namespace of modules: import the one you need, e.g. ``from phasekit.theory import hessian``.
"""

__all__: list[str] = []
