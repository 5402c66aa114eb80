"""A send the provider did not answer (a timeout, a connection lost midway) may have been
taken: when the delivery goes on after it (a resend on a channel that would deliver a
repeat, or the next channel), it is counted and reported in doubt. A refusal the
provider answered, or a resend the provider drops as a repeat, is not in doubt."""

from __future__ import annotations

import aiohttp
import pytest

from services.notifier.channels import DeliveryError
from services.notifier.channels.base import may_have_been_accepted
from services.notifier.render import TemplateSet
from tests.unit.test_notifier_deliver import OK, ScriptedChannel, notice
from tests.unit.test_notifier_in_doubt import DedupingChannel, templates, with_ledger

__all__ = ["templates"]  # the module-scoped fixture, shared


def unanswered() -> DeliveryError:
    try:
        raise TimeoutError
    except TimeoutError as e:
        error = DeliveryError("timed out after 10s (TimeoutError)", retryable=True)
        error.__cause__ = e
        return error


def refused() -> DeliveryError:
    return DeliveryError("HTTP 503", retryable=True, provider_code="HTTP 503")


def in_doubt_total(d: object, channel: str) -> float:
    counts = d.deliverer._counts  # type: ignore[attr-defined]
    return float(counts.in_doubt.labels(channel)._value.get())


@pytest.mark.parametrize(
    ("error", "doubt"),
    [
        (unanswered(), True),
        (refused(), False),
        (DeliveryError("refused", retryable=True, reached_provider=False), False),
    ],
)
def test_only_an_unanswered_send_may_have_been_taken(error: DeliveryError, doubt: bool) -> None:
    assert may_have_been_accepted(error) is doubt


def test_a_lost_connection_while_reading_the_answer_may_have_been_taken() -> None:
    error = DeliveryError("HTTP error (ServerDisconnectedError)", retryable=True)
    error.__cause__ = aiohttp.ServerDisconnectedError()
    assert may_have_been_accepted(error)


async def test_falling_back_after_an_unanswered_send_is_in_doubt(templates: TemplateSet) -> None:
    webhook = DedupingChannel(
        "webhook", script=[unanswered(), refused(), refused()] + [refused()] * 5
    )
    email = ScriptedChannel("email", "email")
    d, _ = with_ledger(templates, webhook, email)
    await d.deliver(notice("webhook", "email"))
    assert ("no_answer", "webhook") in d.events and len(email.sent) == 1
    assert in_doubt_total(d, "webhook") == 1


async def test_an_email_resent_after_no_answer_is_in_doubt(templates: TemplateSet) -> None:
    email = ScriptedChannel("email", "email", script=[unanswered(), OK])
    d, _ = with_ledger(templates, email)
    await d.deliver(notice("email"))
    assert len(email.sent) == 2
    assert d.events == [("no_answer", "email"), ("delivered", "email", 2)]


async def test_a_resend_the_provider_drops_as_a_repeat_is_not_in_doubt(
    templates: TemplateSet,
) -> None:
    webhook = DedupingChannel("webhook", script=[unanswered(), OK])
    d, _ = with_ledger(templates, webhook)
    await d.deliver(notice("webhook"))
    assert d.events == [("delivered", "webhook", 2)]
    assert in_doubt_total(d, "webhook") == 0


async def test_a_refusal_then_another_channel_is_not_in_doubt(templates: TemplateSet) -> None:
    webhook = DedupingChannel("webhook", script=[refused()] * 10)
    email = ScriptedChannel("email", "email")
    d, _ = with_ledger(templates, webhook, email)
    await d.deliver(notice("webhook", "email"))
    assert not [e for e in d.events if e[0] == "no_answer"] and len(email.sent) == 1
