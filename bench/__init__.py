"""Benchmarks of the reference server: run them as `python -m bench.<name>` from the project root."""
