"""The chaos harness keeps working: a short seeded run (under 3 minutes) on its own Kafka
and Redis (a primary, a replica and three sentinels), two engines and two notifiers, one
fault of each class (a sentinel failover included), judged by the oracle."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chaos.run import main
from tests.stack import LocalStack

RUN_TIMEOUT_S = 420  # the run takes about 160 s; its own broker starts twice


@pytest.fixture(scope="module")
def results(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run for the module. `stack`: the shared stack is up, so its Kafka jars are
    there (the run uses its own broker and Redis, which it kills). appendfsync always, as
    deployed (the loss window of everysec is what `make chaos ARGS=--fsync=everysec`
    measures, docs/reliability.md)."""
    output = tmp_path_factory.mktemp("chaos") / "chaos-results.json"
    found = main(["--seed", "7", "--quick", "--output", str(output)])
    assert json.loads(output.read_text()) == found
    return found


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_a_quick_chaos_run_sends_nothing_unexpected_and_recovers(
    results: dict[str, Any],
) -> None:
    assert set(results["faults"]) == {
        "replica_kill",
        "redis_kill",
        "kafka_kill",
        "freeze",
        "failover",
    }
    assert results["expected"] > 0 and results["delivered"] > 0
    assert results["unexpected"] == 0
    # Every poison record reaches the dead-letter topic (a batch that comes back after a
    # kill may write a second copy of one).
    assert results["dead_lettered"] >= results["poison"] >= 3
    assert results["recovered_without_help"] is True


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_a_quick_chaos_run_loses_nothing_and_duplicates_only_in_doubt_sends(
    results: dict[str, Any],
) -> None:
    assert results["lost"] == 0, results["lost_deliveries"]
    assert results["delivered"] == results["expected"]
    assert results["duplicated"] <= results["in_doubt"]
