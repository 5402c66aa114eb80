"""Local stand-ins for the providers (real HTTP / SMTP servers on 127.0.0.1).

Each stand-in checks requests the way the provider documents them — including
signatures recomputed independently of the adapters — records what it accepted,
and can be told to fail or delay the next requests. `make run` starts them so a
newcomer sees every channel; the tests reuse them (see ``tests/providers/fixtures.py``).
"""

from .aliyun_sms import FakeAliyunSms
from .dingtalk import FakeDingTalk
from .dingtalk_work import FakeDingTalkWork
from .feishu import FakeFeishu
from .feishu_app import FakeFeishuApp
from .sms_gateway import FakeSmsGateway
from .tencent_sms import FakeTencentSms
from .tls import CertFiles, TlsUnavailable, make_self_signed_cert
from .webhook_receiver import FakeWebhookReceiver
from .wecom import FakeWeCom
from .wecom_app import FakeWeComApp

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
]


def __getattr__(name: str) -> object:
    # The SMTP stand-in needs aiosmtpd, a development dependency: imported when asked for,
    # so the HTTP stand-ins also run from the app image (compose.yaml's `standins`).
    if name in ("FakeSmtpServer", "ReceivedMail"):
        from . import smtp

        return getattr(smtp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
