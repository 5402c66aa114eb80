"""Publish an example unit and a major hazard to the local Kafka, as a publisher would,
then a tour of every channel: one `notice.requested` per channel about the same hazard.

The hazard's own notices reach the unit's people by SMS at once (a major hazard's report)
and, later, officials on their work chat; the tour shows now what each channel of the
example config (the local stand-ins under `make run`) delivers. `--no-tour` skips it.

Uses plain aiokafka and JSON — nothing of duban's — so it doubles as a sketch for
publishers in other languages: one CloudEvent per message, key = subject.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiokafka import AIOKafkaProducer

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
CST = timezone(timedelta(hours=8))


def fresh(name: str, now: datetime) -> dict:
    """An example event with a new id and the current time (so it is not a duplicate)."""
    event = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    event["id"] = str(uuid.uuid4())
    event["time"] = now.isoformat()
    return event


# (channel, recipient) of the tour: example people and the ids the channel needs.
_OFFICIAL = {"person_id": "aqb-duty", "name": "安委办值班室", "role": "committee_office"}
_PRINCIPAL = {"person_id": "P-BT-0042-01", "name": "王建国", "role": "principal"}
_MENTIONS = [
    {
        "person_id": "aqb-duty",
        "name": "安委办值班室",
        "role": "committee_office",
        "mobile": "13800000001",
        "wecom_userid": "AnWeiBanZhiBan",
        "dingtalk_userid": None,
        "feishu_open_id": None,
    },
]
TOUR = (
    ("wecom_app", {**_OFFICIAL, "wecom_userid": "AnWeiBanZhiBan"}),
    (
        "dingtalk_work",
        {
            "person_id": "housing-duty",
            "name": "住建所值班员",
            "role": "department",
            "dingtalk_userid": "0612345678901234",
        },
    ),
    (
        "feishu_app",
        {
            "person_id": "leader-urban",
            "name": "分管城建副镇长",
            "role": "leader",
            "feishu_open_id": "ou_4f3c2a1b0e9d8c7b6a5f4e3d2c1b0a99",
        },
    ),
    ("wecom", {"person_id": "group-wecom", "name": "wecom", "role": "group"}),
    ("dingtalk", {"person_id": "group-dingtalk", "name": "dingtalk", "role": "group"}),
    ("feishu", {"person_id": "group-feishu", "name": "feishu", "role": "group"}),
    ("aliyun_sms", {**_PRINCIPAL, "mobile": "13800000001"}),
    ("tencent_sms", {**_PRINCIPAL, "mobile": "13800000001"}),
    ("sms_gateway", {**_PRINCIPAL, "mobile": "13800000001"}),
    ("email", {**_OFFICIAL, "email": "aqb@duban.example"}),
    ("webhook", {**_OFFICIAL}),
)


def tour(hazard: dict, now: datetime) -> list[dict]:
    """One report notice of `hazard` per channel, as the engine would publish it."""
    data = hazard["data"]
    facts = {
        "hazard_id": data["hazard_id"],
        "title": data["title"],
        "description": data.get("description"),
        "level": data["level"],
        "found_by": data["found_by"],
        "unit_id": data["unit"]["id"],
        "unit_name": data["unit"].get("name"),
        "industry": data["unit"]["industry"],
        "region": data["unit"]["region"],
        "deadline": data["deadline"],
        "status": "reported",
    }
    events = []
    for channel, recipient in TOUR:
        notice_id = f"tour:{data['hazard_id']}:{channel}"
        extra = {"mentions": _MENTIONS} if recipient["role"] == "group" else {}
        notice = {
            "notice_id": notice_id,
            "occurrence": 0,
            "kind": "report",
            "action": None,
            "subject": data["hazard_id"],
            "due_at": now.isoformat(),
            "recipient": recipient,
            "channels": [{"channel": channel, "not_before": None}],
            "facts": {
                **facts,
                **extra,
                "recipient_name": recipient["name"],
                "recipient_role": recipient["role"],
                "occurrence": 0,
            },
        }
        events.append(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "urn:duban:example-tour",
                "type": "notice.requested",
                "time": now.isoformat(),
                "subject": notice_id,
                "datacontenttype": "application/json",
                "data": notice,
            }
        )
    return events


async def main() -> None:
    bootstrap = os.environ.get("DUBAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    now = datetime.now(CST).replace(microsecond=0)
    unit = fresh("unit.upserted", now)
    hazard = fresh("hazard.reported", now + timedelta(seconds=1))
    hazard_id = f"HZ-DEMO-{now:%Y%m%d%H%M%S}"
    hazard["subject"] = hazard["data"]["hazard_id"] = hazard_id
    hazard["time"] = hazard["data"]["found_at"] = (now + timedelta(seconds=1)).isoformat()
    hazard["data"]["deadline"] = (now + timedelta(days=30)).date().isoformat()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        duty_topic = os.environ.get("DUBAN_TOPIC_DUTY_EVENTS", "duty.events")
        hazard_topic = os.environ.get("DUBAN_TOPIC_HAZARD_EVENTS", "hazard.events")
        notice_topic = os.environ.get("DUBAN_TOPIC_NOTICE_REQUESTED", "notice.requested")
        sends = [(duty_topic, unit), (hazard_topic, hazard)]
        if "--no-tour" not in sys.argv:
            sends += [(notice_topic, event) for event in tour(hazard, now)]
        for topic, event in sends:
            await producer.send_and_wait(
                topic,
                json.dumps(event, ensure_ascii=False).encode(),
                key=event["subject"].encode(),
            )
            print(f"published {event['type']} {event['subject']} to {topic}")
    finally:
        await producer.stop()
    print("Within seconds the notices show in the local inbox: http://127.0.0.1:8030/")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
