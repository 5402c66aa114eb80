"""Local stand-ins for the providers (real HTTP / SMTP servers on 127.0.0.1).

Each stand-in checks requests the way the provider documents them — including
signatures recomputed independently of the adapters — records what it accepted,
and can be told to fail or delay the next requests. `make run` starts them so a
newcomer sees every channel; the tests reuse them (see ``tests/providers/fixtures.py``).
"""

from .aliyun_sms import FakeAliyunSms
from .dingtalk import FakeDingTalk
from .feishu import FakeFeishu
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
]
