"""The delivery ledger on the real Redis: claims, leases, renewals and grouped calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from redis.asyncio import Redis

from services.notifier.ledger import PREFIX, SENT_TTL_S, DeliveryLedger, Sent
from tests.integration.conftest import wait_for


async def test_claim_send_and_release(redis: Redis) -> None:
    a, b = DeliveryLedger(redis, "a"), DeliveryLedger(redis, "b")
    assert await a.claim("k1") == "claimed"
    assert await a.claim("k1") == "claimed"  # our own live lease
    assert await b.claim("k1") == "busy"
    sent = Sent("msg-1", 2, datetime(2026, 9, 1, 9, 5, tzinfo=UTC))
    await a.mark_sent("k1", sent)
    assert await b.claim("k1") == ("k1", sent)
    # Sent on another channel of the same notice: found, and nothing is claimed.
    assert await b.claim("k0", ["k1"]) == ("k1", sent) and await b.state("k0") is None
    assert 0 < await redis.ttl(PREFIX + "k1") <= SENT_TTL_S
    assert await a.claim("k2") == "claimed"
    await b.release("k2")  # not b's lease: nothing happens
    assert await a.state("k2") == "sending:a"
    await a.release("k2")
    assert await a.state("k2") is None and await b.claim("k2") == "claimed"
    assert await a.claim("k3", ["k2", "k4"]) == "claimed"  # k2 is b's lease, not sent
    await a.aclose()
    await b.aclose()


async def test_concurrent_deliveries_share_script_calls(redis: Redis) -> None:
    ledger = DeliveryLedger(redis, "a")
    before = await _script_calls(redis)
    keys = [f"n{i}" for i in range(300)]
    assert set(await asyncio.gather(*(ledger.claim(k) for k in keys))) == {"claimed"}
    await asyncio.gather(*(ledger.mark_sent(k, Sent(f"r{k}", 1, None)) for k in keys))
    calls = await _script_calls(redis) - before
    assert calls <= 4, f"300 claims and 300 completions took {calls} script calls"
    found = await asyncio.gather(*(ledger.claim(f"email-{k}", [f"sms-{k}", k]) for k in keys))
    assert found == [(k, Sent(f"r{k}", 1, None)) for k in keys] and ledger.held == frozenset()
    assert await _script_calls(redis) - before <= 6, "300 claims of three keys each"
    await ledger.aclose()


async def test_leases_are_renewed_while_held_and_expire_when_abandoned(redis: Redis) -> None:
    ledger = DeliveryLedger(redis, "a", lease_s=1.0)
    assert await ledger.claim("slow") == "claimed"
    renewals = await _script_calls(redis)
    # Three renewals: the lease outlived three thirds of itself only by being renewed.
    await wait_for(lambda: _script_calls_since(redis, renewals, 3), what="three renewals")
    assert await ledger.state("slow") == "sending:a" and ledger.held == {"slow"}
    await ledger.aclose()  # the replica dies: no more renewals
    await wait_for(lambda: _gone(ledger, "slow"), timeout_s=10, what="the lease to expire")
    assert await DeliveryLedger(redis, "b").claim("slow") == "claimed"


async def test_a_lost_lease_is_reported(redis: Redis) -> None:
    ledger = DeliveryLedger(redis, "a")
    assert await ledger.claim("x") == "claimed" and await ledger.claim("y") == "claimed"
    await redis.set(PREFIX + "y", "sending:someone-else")
    assert await ledger.renew() == ["y"]
    await ledger.aclose()


async def _script_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(
        int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )


async def _script_calls_since(redis: Redis, before: int, at_least: int) -> bool:
    return await _script_calls(redis) - before >= at_least


async def _gone(ledger: DeliveryLedger, key: str) -> bool:
    return await ledger.state(key) is None


def test_a_record_reads_back_and_a_bare_message_id_still_reads() -> None:
    sent = Sent("<id@x>", 3, datetime(2026, 9, 1, 1, 0, tzinfo=UTC))
    assert Sent.decode(sent.encode()) == sent
    assert Sent.decode("legacy-id") == Sent("legacy-id", 1, None)
    assert Sent.decode("") == Sent(None, 1, None)
