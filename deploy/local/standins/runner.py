"""Every provider stand-in on a fixed local port, recording into the shared spool.

``python -m deploy.local.standins`` (see ``__main__``) serves them for ``make run``; the
port of each is ``base + its offset`` below (base 8120 unless ``--base-port``). The
channels of deploy/config/example/channels.yaml are pointed at them by the variables
:func:`environment` gives (the Makefile's ``run`` target reads them with ``--env``).

The personal work-chat stand-ins (wecom_app, dingtalk_work, feishu_app) are served when
their modules exist in this folder.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ._base import FakeHttpProvider
from .aliyun_sms import FakeAliyunSms
from .dingtalk import FakeDingTalk
from .example import SIGN_NAME, sms_texts
from .feishu import FakeFeishu
from .sms_gateway import FakeSmsGateway
from .spool import Describe, Spool, aliyun, gateway, record_into, robot, tencent, webhook, work_app
from .tencent_sms import FakeTencentSms
from .webhook_receiver import FakeWebhookReceiver
from .wecom import FakeWeCom

log = logging.getLogger("duban.standins")
BASE_PORT = 8120
# What the local stack's ack service is called at (deploy/local/stack.sh, `make run`).
ACK_BASE_URL = "http://127.0.0.1:8086"
CALLBACK_TOKEN = "local-callback-token"  # DUBAN_CALLBACK_TOKEN of `make run`: local only


@dataclass
class Served:
    """One stand-in as served: its channel name in channels.yaml and the fake itself."""

    channel: str
    fake: FakeHttpProvider


@dataclass(frozen=True)
class Plan:
    """How to make one stand-in: channel name, port offset, the fake, its spool lines."""

    channel: str
    offset: int
    make: Callable[[], FakeHttpProvider | None]
    describe: Describe


def plans(ack_base_url: str = ACK_BASE_URL) -> list[Plan]:
    """Every stand-in this checkout has, in port order."""
    texts = sms_texts()
    callbacks = _callbacks(ack_base_url)
    return [
        Plan("wecom", 0, FakeWeCom, robot("wecom")),
        Plan("dingtalk", 1, FakeDingTalk, robot("dingtalk")),
        Plan("feishu", 2, FakeFeishu, robot("feishu")),
        Plan(
            "aliyun_sms",
            3,
            lambda: _made(FakeAliyunSms, templates=_aliyun_templates(texts), **callbacks),
            aliyun(texts["aliyun_sms"]),
        ),
        Plan(
            "tencent_sms",
            4,
            lambda: _made(FakeTencentSms, templates=_tencent_templates(texts), **callbacks),
            tencent(texts["tencent_sms"]),
        ),
        Plan("sms_gateway", 5, FakeSmsGateway, gateway(texts["sms_gateway"])),
        Plan("webhook", 6, FakeWebhookReceiver, webhook),
        Plan("wecom_app", 7, lambda: _app("wecom_app"), work_app(("touser",))),
        Plan("dingtalk_work", 8, lambda: _app("dingtalk_work"), work_app(("userid_list",))),
        Plan("feishu_app", 9, lambda: _app("feishu_app"), work_app(("receive_id",))),
    ]


def build(
    spool: Spool, base_port: int, ack_base_url: str = ACK_BASE_URL, host: str = "127.0.0.1"
) -> list[Served]:
    """The stand-ins, each with its port set and recording into `spool` (not started)."""
    served = []
    for plan in plans(ack_base_url):
        fake = plan.make()
        if fake is None:
            log.info("stand-in %s: no module yet, not served", plan.channel)
            continue
        fake.port, fake.bind_host = base_port + plan.offset, host
        record_into(spool, fake, plan.channel, plan.describe)
        served.append(Served(plan.channel, fake))
    return served


def environment(served: list[Served], ack_base_url: str = ACK_BASE_URL) -> dict[str, str]:
    """DUBAN_* variables that point the example config's channels at the stand-ins."""
    env = {
        "DUBAN_ACK_BASE_URL": ack_base_url,
        "DUBAN_CALLBACK_TOKEN": CALLBACK_TOKEN,
    }
    for item in served:
        env.update(_variables(item.channel, item.fake))
    return env


def _variables(channel: str, fake: Any) -> dict[str, str]:
    if channel == "wecom":
        return {"DUBAN_WECOM_WEBHOOK_URL": fake.webhook_url}
    if channel == "dingtalk":
        return {
            "DUBAN_DINGTALK_WEBHOOK_URL": fake.webhook_url,
            "DUBAN_DINGTALK_SECRET": fake.secret,
        }
    if channel == "feishu":
        return {"DUBAN_FEISHU_WEBHOOK_URL": fake.webhook_url, "DUBAN_FEISHU_SECRET": fake.secret}
    if channel == "aliyun_sms":
        return {
            "DUBAN_ALIYUN_SMS_ENDPOINT": fake.endpoint,
            "DUBAN_ALIYUN_ACCESS_KEY_ID": fake.access_key_id,
            "DUBAN_ALIYUN_ACCESS_KEY_SECRET": fake.access_key_secret,
            "DUBAN_ALIYUN_SMS_SIGN_NAME": fake.sign_names[0],
        }
    if channel == "tencent_sms":
        return {
            "DUBAN_TENCENT_SMS_ENDPOINT": fake.endpoint,
            "DUBAN_TENCENT_SECRET_ID": fake.secret_id,
            "DUBAN_TENCENT_SECRET_KEY": fake.secret_key,
            "DUBAN_TENCENT_SMS_APP_ID": fake.sdk_app_id,
            "DUBAN_TENCENT_SMS_SIGN_NAME": fake.sign_names[0],
        }
    if channel == "sms_gateway":
        return {"DUBAN_SMS_GATEWAY_URL": fake.url, "DUBAN_SMS_GATEWAY_TOKEN": fake.token}
    if channel == "webhook":
        return {"DUBAN_WEBHOOK_URL": fake.url, "DUBAN_WEBHOOK_SECRET": fake.secret}
    return _app_variables(channel, fake)


# The app stand-ins' credentials, by the attribute names their modules are expected to use;
# an attribute a stand-in lacks is left to the environment.
_APP_VARIABLES = {
    "wecom_app": {
        "DUBAN_WECOM_API_BASE": "base_url",
        "DUBAN_WECOM_CORP_ID": "corp_id",
        "DUBAN_WECOM_AGENT_ID": "agent_id",
        "DUBAN_WECOM_APP_SECRET": "secret",
    },
    "dingtalk_work": {
        "DUBAN_DINGTALK_API_BASE": "base_url",
        "DUBAN_DINGTALK_APP_KEY": "app_key",
        "DUBAN_DINGTALK_APP_SECRET": "app_secret",
        "DUBAN_DINGTALK_AGENT_ID": "agent_id",
    },
    "feishu_app": {
        "DUBAN_FEISHU_API_BASE": "base_url",
        "DUBAN_FEISHU_APP_ID": "app_id",
        "DUBAN_FEISHU_APP_SECRET": "app_secret",
    },
}


def _app_variables(channel: str, fake: Any) -> dict[str, str]:
    found = {}
    for variable, attribute in _APP_VARIABLES.get(channel, {}).items():
        value = getattr(fake, attribute, None)
        if value is not None:
            found[variable] = str(value)
    return found


def _aliyun_templates(texts: dict[str, Any]) -> dict[str, str]:
    return {code: t.text for code, t in texts["aliyun_sms"].items()}


def _tencent_templates(texts: dict[str, Any]) -> dict[str, int]:
    return {code: len(t.params) for code, t in texts["tencent_sms"].items()}


def _callbacks(ack_base_url: str) -> dict[str, str]:
    """Where the SMS stand-ins push delivery reports and replies: the ack service's
    callback endpoints (given to a stand-in only if it takes them)."""
    base = ack_base_url.rstrip("/")
    query = f"?token={CALLBACK_TOKEN}"
    return {
        # {provider}, {report}, {reply}: filled by each stand-in (Tencent's paths differ)
        "report_url": f"{base}/callbacks/{{provider}}/{{report}}{query}",
        "reply_url": f"{base}/callbacks/{{provider}}/{{reply}}{query}",
    }


def _made(cls: type[FakeHttpProvider], **options: Any) -> FakeHttpProvider:
    """`cls(**options)`, leaving out the options its constructor does not take."""
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in options.items() if k in accepted})


def _app(name: str) -> FakeHttpProvider | None:
    """The stand-in of deploy/local/standins/<name>.py, or None while there is none."""
    try:
        module = importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.{name}":
            raise
        return None
    cls = _provider_class(module)
    return cls() if cls is not None else None


def _provider_class(module: ModuleType) -> type[FakeHttpProvider] | None:
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, FakeHttpProvider)
            and value.__module__ == module.__name__
        ):
            return value
    return None


def spool_path(root: Path) -> Path:
    """Where `make run`'s stand-ins write: <repo>/.stack/inbox/messages.jsonl."""
    return root / ".stack" / "inbox" / "messages.jsonl"


__all__ = ["BASE_PORT", "SIGN_NAME", "Served", "build", "environment", "spool_path"]
