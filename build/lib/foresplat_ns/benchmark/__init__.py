"""Benchmark: quality against refinement steps for every way of starting splatfacto."""
