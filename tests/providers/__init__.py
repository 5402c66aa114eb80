"""The provider stand-ins (``deploy/local/standins``) as the tests use them, plus sample
messages; pytest fixtures are in ``fixtures.py``."""

from deploy.local.standins import (
    CertFiles,
    FakeAliyunSms,
    FakeDingTalk,
    FakeDingTalkWork,
    FakeFeishu,
    FakeFeishuApp,
    FakeSmsGateway,
    FakeSmtpServer,
    FakeTencentSms,
    FakeWebhookReceiver,
    FakeWeCom,
    FakeWeComApp,
    ReceivedMail,
    TlsUnavailable,
    make_self_signed_cert,
)

from .messages import sample_message

__all__ = [
    "CertFiles",
    "FakeAliyunSms",
    "FakeDingTalk",
    "FakeDingTalkWork",
    "FakeFeishu",
    "FakeFeishuApp",
    "FakeSmsGateway",
    "FakeSmtpServer",
    "FakeTencentSms",
    "FakeWeCom",
    "FakeWeComApp",
    "FakeWebhookReceiver",
    "ReceivedMail",
    "TlsUnavailable",
    "make_self_signed_cert",
    "sample_message",
]
