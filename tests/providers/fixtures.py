"""pytest fixtures for the fake providers.

Use from any ``conftest.py``::

    from tests.providers.fixtures import *  # noqa: F403

Every HTTP fake is function-scoped (fresh recordings and failure queues per test);
the self-signed certificate is made once per session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .aliyun_sms import FakeAliyunSms
from .dingtalk import FakeDingTalk
from .feishu import FakeFeishu
from .sms_gateway import FakeSmsGateway
from .smtp import FakeSmtpServer
from .tencent_sms import FakeTencentSms
from .tls import CertFiles, TlsUnavailable, make_self_signed_cert
from .webhook_receiver import FakeWebhookReceiver
from .wecom import FakeWeCom

SMTP_USERS = {"notifier@example.com": "smtp-test-password"}


@pytest_asyncio.fixture
async def fake_wecom() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_dingtalk() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_feishu() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_aliyun_sms() -> AsyncIterator[FakeAliyunSms]:
    async with FakeAliyunSms() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_tencent_sms() -> AsyncIterator[FakeTencentSms]:
    async with FakeTencentSms() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_sms_gateway() -> AsyncIterator[FakeSmsGateway]:
    async with FakeSmsGateway() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_webhook_receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as fake:
        yield fake


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    directory: Path = tmp_path_factory.mktemp("smtp-cert")
    try:
        return make_self_signed_cert(directory)
    except TlsUnavailable as e:
        pytest.skip(f"no TLS certificate for the SMTP fakes: {e}")


@pytest_asyncio.fixture
async def fake_smtp() -> AsyncIterator[FakeSmtpServer]:
    """Plain SMTP, no AUTH."""
    async with FakeSmtpServer() as server:
        yield server


@pytest_asyncio.fixture
async def fake_smtp_auth() -> AsyncIterator[FakeSmtpServer]:
    """Plain SMTP with AUTH required (users: SMTP_USERS)."""
    async with FakeSmtpServer(users=SMTP_USERS) as server:
        yield server


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
