"""Concrete instrument drivers (one module per protocol family)."""
