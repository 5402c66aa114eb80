"""pytest fixtures for the fake providers.

Use from any ``conftest.py``::

    from tests.providers.fixtures import *  # noqa: F403

Every fake is function-scoped (fresh recordings and failure queues per test); the
self-signed certificate is made once per session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from deploy.local.standins._base import Serving
from deploy.local.standins.aliyun_sms import FakeAliyunSms
from deploy.local.standins.dingtalk import FakeDingTalk
from deploy.local.standins.dingtalk_work import FakeDingTalkWork
from deploy.local.standins.feishu import FakeFeishu
from deploy.local.standins.feishu_app import FakeFeishuApp
from deploy.local.standins.sms_gateway import FakeSmsGateway
from deploy.local.standins.smtp import FakeSmtpServer
from deploy.local.standins.tencent_sms import FakeTencentSms
from deploy.local.standins.tls import CertFiles, TlsUnavailable, make_self_signed_cert
from deploy.local.standins.webhook_receiver import FakeWebhookReceiver
from deploy.local.standins.wecom import FakeWeCom
from deploy.local.standins.wecom_app import FakeWeComApp

SMTP_USERS = {"notifier@example.com": "smtp-test-password"}

FakeT = TypeVar("FakeT", bound=Serving)


def _serving(fake: Callable[..., FakeT], doc: str, **kwargs: Any) -> Any:
    """A fixture running ``fake(**kwargs)`` for one test; pytest names it after the
    module attribute it is assigned to."""

    async def fixture() -> AsyncIterator[FakeT]:
        async with fake(**kwargs) as server:
            yield server

    fixture.__doc__ = doc
    return pytest_asyncio.fixture(fixture)


fake_wecom = _serving(FakeWeCom, "Fake WeCom robot.")
fake_dingtalk = _serving(FakeDingTalk, "Fake DingTalk robot (signing secret set).")
fake_feishu = _serving(FakeFeishu, "Fake Feishu bot (signing secret set).")
fake_wecom_app = _serving(FakeWeComApp, "Fake WeCom app messages (gettoken + message/send).")
fake_dingtalk_work = _serving(
    FakeDingTalkWork, "Fake DingTalk work notifications (gettoken + asyncsend_v2)."
)
fake_feishu_app = _serving(
    FakeFeishuApp, "Fake Feishu app messages (tenant token + im/v1/messages)."
)
fake_aliyun_sms = _serving(FakeAliyunSms, "Fake Aliyun SendSms.")
fake_tencent_sms = _serving(FakeTencentSms, "Fake Tencent Cloud SendSms.")
fake_sms_gateway = _serving(FakeSmsGateway, "Fake generic SMS gateway.")
fake_webhook_receiver = _serving(FakeWebhookReceiver, "Fake receiver of duban's webhook.")
fake_smtp = _serving(FakeSmtpServer, "Plain SMTP, no AUTH.")
fake_smtp_auth = _serving(
    FakeSmtpServer, "Plain SMTP with AUTH required (users: SMTP_USERS).", users=SMTP_USERS
)


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    directory: Path = tmp_path_factory.mktemp("smtp-cert")
    try:
        return make_self_signed_cert(directory)
    except TlsUnavailable as e:
        pytest.skip(f"no TLS certificate for the SMTP fakes: {e}")


@pytest_asyncio.fixture
async def fake_smtp_starttls(smtp_cert: CertFiles) -> AsyncIterator[FakeSmtpServer]:
    """STARTTLS required, then AUTH required (users: SMTP_USERS)."""
    async with FakeSmtpServer(security="starttls", users=SMTP_USERS, cert=smtp_cert) as server:
        yield server


@pytest_asyncio.fixture
async def fake_smtp_tls(smtp_cert: CertFiles) -> AsyncIterator[FakeSmtpServer]:
    """Implicit TLS (SMTPS) with AUTH required (users: SMTP_USERS)."""
    async with FakeSmtpServer(security="tls", users=SMTP_USERS, cert=smtp_cert) as server:
        yield server
