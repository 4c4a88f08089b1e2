"""What happens during training: the scan engine, sweeps, and the observables of the book."""
