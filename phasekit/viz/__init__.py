"""Matplotlib figures from results; no computation.

A namespace of modules (``from phasekit.viz import phase``); it imports none of them.
"""

__all__: list[str] = []
