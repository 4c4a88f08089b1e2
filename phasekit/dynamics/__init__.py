"""What happens during training: the scan engine, sweeps, and the observables of the book.

A namespace of modules (``from phasekit.dynamics import train, sweep``); it imports none of them.
"""

__all__: list[str] = []
