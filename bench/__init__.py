"""Benchmarks of the flows and the sandbox: figures and the command that reproduces them (see README.md)."""
