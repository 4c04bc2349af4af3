"""Pure simulation of the shop: no I/O here, only rows and decisions.

Everything in this package is deterministic for a given `random.Random` and can be reused by
other writers (bulk history, benchmarks) that take the rows somewhere else.
"""
