"""`make bench`: throughput and latency figures of duban on the real local stack.

Not a test suite: nothing here asserts timings. `python -m tests.perf.run` runs every
section, prints a table and writes bench-results.json at the repository root.
"""
