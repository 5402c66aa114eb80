"""The record-key hash the batch producer partitions by is Kafka's (aiokafka's murmur2)."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.batchproducer import murmur2


@pytest.mark.parametrize("length", range(0, 70))
def test_murmur2_matches_aiokafka(length: int) -> None:
    rng = random.Random(length)
    for _ in range(50):
        key = bytes(rng.getrandbits(8) for _ in range(length))
        assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF


@pytest.mark.parametrize(
    ("key", "signed"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"abc", 479470107),
    ],
)
def test_murmur2_pinned_values(key: bytes, signed: int) -> None:
    """Pinned as Java's int (the partition is (hash & 0x7fffffff) % partitions)."""
    assert murmur2(key) == signed & 0xFFFFFFFF
