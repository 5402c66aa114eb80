"""Chaos runs: seeded faults on real processes, judged by the simulate oracle."""
