"""Benchmark suite of learned-index (``python -m bench``)."""
