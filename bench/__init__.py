"""Benchmarks, run by hand; their figures are in the README with the commands that produced them."""
