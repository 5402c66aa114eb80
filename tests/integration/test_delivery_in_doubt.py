"""The ledger's in-doubt record on the real Redis: a send begun and never ended is found
in doubt by the next claimer, recorded for good, and a receipt's mark survives."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from services.notifier.ledger import TRY_PREFIX, DeliveryLedger, Sent
from tests.integration.conftest import wait_for

AT = datetime(2026, 9, 1, 9, 5, tzinfo=UTC)


async def _expired(redis: Redis, key: str) -> bool:
    return await DeliveryLedger(redis, "probe").state(key) is None


async def test_a_send_cut_off_after_it_began_is_in_doubt_for_the_next_claimer(
    redis: Redis,
) -> None:
    dead = DeliveryLedger(redis, "dead", lease_s=1.0)
    assert await dead.claim("k1") == "claimed"
    assert await dead.sending("k1") is True  # the provider call began...
    await dead.aclose()  # ...and the replica died: its lease expires
    await wait_for(lambda: _expired(redis, "k1"), timeout_s=10, what="the lease to expire")
    heir = DeliveryLedger(redis, "heir")
    assert await heir.claim("k1") == "doubt"
    assert await DeliveryLedger(redis, "third").claim("k1") == "busy"  # the heir owns it
    await heir.mark_doubt("k1", 1, AT)
    assert await redis.exists(TRY_PREFIX + "k1") == 0
    later = DeliveryLedger(redis, "later")
    found = await later.claim("k1", ["k0"])
    assert found == ("k1", Sent(None, 1, None, receipted=True))  # final: not sent again
    # the notice's next channel is claimed: a channel given up in doubt does not stop it
    assert await later.claim("k0", ["k1"]) == "claimed"
    await later.mark_sent("k0", Sent("m-0", 1, AT))
    assert await later.claim("k1", ["k0"]) == ("k1", Sent(None, 1, None, receipted=True))
    assert await later.claim("k9", ["k1", "k0"]) == ("k0", Sent("m-0", 1, AT))
    await heir.aclose()
    await later.aclose()


async def test_a_claim_whose_send_never_began_is_not_in_doubt(redis: Redis) -> None:
    dead = DeliveryLedger(redis, "dead", lease_s=1.0)
    assert await dead.claim("k2") == "claimed"  # died before the provider call
    await dead.aclose()
    await wait_for(lambda: _expired(redis, "k2"), timeout_s=10, what="the lease to expire")
    assert await DeliveryLedger(redis, "heir").claim("k2") == "claimed"


async def test_a_refused_send_released_and_a_lost_lease_refused(redis: Redis) -> None:
    a, b = DeliveryLedger(redis, "a"), DeliveryLedger(redis, "b", lease_s=1.0)
    assert await a.claim("k3") == "claimed" and await a.sending("k3")
    await a.release("k3")  # the provider refused it: nothing delivered, no doubt
    assert await b.claim("k3") == "claimed"
    await b.aclose()  # b froze past its lease...
    await wait_for(lambda: _expired(redis, "k3"), timeout_s=10, what="the lease to expire")
    assert await a.claim("k3") == "claimed"
    assert await b.sending("k3") is False  # ...and must not send when it wakes
    await a.aclose()


async def test_a_receipted_mark_is_kept_with_the_sent_record(redis: Redis) -> None:
    ledger = DeliveryLedger(redis, "a")
    assert await ledger.claim("k4") == "claimed" and await ledger.sending("k4")
    await ledger.mark_sent("k4", Sent("m-4", 1, AT))
    assert await redis.exists(TRY_PREFIX + "k4") == 0
    assert await ledger.claim("k4") == ("k4", Sent("m-4", 1, AT))
    await ledger.mark_sent("k4", Sent("m-4", 1, AT, receipted=True))
    assert await ledger.claim("k4") == ("k4", Sent("m-4", 1, AT, receipted=True))
    await ledger.aclose()


async def test_a_resend_in_doubt_cut_off_too_is_doubt_again(redis: Redis) -> None:
    dead = DeliveryLedger(redis, "dead", lease_s=1.0)
    assert await dead.claim("k5") == "claimed"
    assert await dead.sending("k5", again=True) is True  # the resend of a delivery in doubt
    await dead.aclose()
    await wait_for(lambda: _expired(redis, "k5"), timeout_s=10, what="the lease to expire")
    assert await DeliveryLedger(redis, "heir").claim("k5") == "doubt_again"


async def test_our_own_lease_on_a_send_begun_is_in_doubt_when_the_notice_comes_back(
    redis: Redis,
) -> None:
    """The send went out but Redis was down when it was to be recorded: the batch comes
    back to the same replica, which must not send it again as if new."""
    ledger = DeliveryLedger(redis, "a")
    assert await ledger.claim("k6") == "claimed" and await ledger.sending("k6")
    assert await ledger.claim("k6") == "doubt"
    await ledger.aclose()
