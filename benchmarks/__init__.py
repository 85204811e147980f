"""Benchmarks: our pipeline side by side with the PyPI `fer` package (`python -m benchmarks.run`)."""
