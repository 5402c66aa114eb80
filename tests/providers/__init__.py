"""Local fake provider servers (real HTTP / SMTP on 127.0.0.1) for tests and benchmarks.

Each fake checks requests the way the provider documents them — including
signatures recomputed independently of the adapters — records what it accepted,
and can be told to fail or delay the next requests.  See ``fixtures.py`` for pytest
fixtures and each module's docstring for what it verifies.
"""

from .aliyun_sms import FakeAliyunSms
from .dingtalk import FakeDingTalk
from .feishu import FakeFeishu
from .messages import sample_message
from .sms_gateway import FakeSmsGateway
from .smtp import FakeSmtpServer, ReceivedMail
from .tencent_sms import FakeTencentSms
from .tls import CertFiles, TlsUnavailable, make_self_signed_cert
from .webhook_receiver import FakeWebhookReceiver
from .wecom import FakeWeCom

__all__ = [
    "CertFiles",
    "FakeAliyunSms",
    "FakeDingTalk",
    "FakeFeishu",
    "FakeSmsGateway",
    "FakeSmtpServer",
    "FakeTencentSms",
    "FakeWeCom",
    "FakeWebhookReceiver",
    "ReceivedMail",
    "TlsUnavailable",
    "make_self_signed_cert",
    "sample_message",
]
