"""Matplotlib figures from results; no computation."""
