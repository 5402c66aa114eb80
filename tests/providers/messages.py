"""Sample messages for channel tests and benchmarks."""

from __future__ import annotations

from typing import Any

from services.notifier.channels.base import OutboundMessage

HAZARD = "3号车间配电箱未上锁"


def sample_message(**overrides: Any) -> OutboundMessage:
    """A fully populated Chinese reminder; override any field by keyword."""
    fields: dict[str, Any] = {
        "delivery_key": "N20240601-0007:2:P-0042:email",
        "subject": f"【隐患整改提醒】{HAZARD}",
        "text": f"张三，您负责的隐患“{HAZARD}”将于 2024-06-01 17:00 到期，请及时整改并上传照片。",
        "html": (
            f"<p>张三，您负责的隐患<b>“{HAZARD}”</b>将于 2024-06-01 17:00 到期，"
            "请及时整改并上传照片。</p>"
        ),
        "markdown": (
            f"### 隐患整改提醒\n> {HAZARD}\n\n**责任人**：张三\n**到期**：2024-06-01 17:00"
        ),
        "sms_params": {"hazard": HAZARD, "deadline": "6月1日17:00"},
        "sms_template": "SMS_100001",
        "to_email": "zhangsan@example.com",
        "to_mobile": "13800138000",
    }
    fields.update(overrides)
    return OutboundMessage(**fields)
