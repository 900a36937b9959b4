"""The channel pages' Python examples, run as written on the real broker, as the channel's
own principal (only the address, the file names and the deployment's topic prefix are put
in): the submit page's producer publishes its complaint under the key the page says, to
the partition murmur2 gives that key; the replies page's consumer reads the SMS gateway's
replies in the consumer group it names, which the channel's ACLs allow."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from services.runtime.memory import partition_for
from services.runtime.settings import Settings
from services.runtime.topics import SUBMITTED, notifications_topic_name
from services.tools.access_plan import channel_user
from services.tools.broker_security import secret_file
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce

DOCS = Path(__file__).resolve().parents[2] / "docs/channels"

pytestmark = pytest.mark.broker


def tab(page: Path, title: str) -> str:
    """The Python code block under the page's content tab `title` (or the page's first)."""
    text = page.read_text()
    start = text.index(f'=== "{title}"') if title else 0
    block = re.search(r"```python\n(.*?)\n\s*```", text[start:], re.S)
    assert block is not None, f"no python block under {title!r} in {page}"
    return textwrap.dedent(block.group(1))


def as_channel(code: str, settings: Settings, channel: str, *also: tuple[str, str]) -> str:
    """The page's code with this broker's address, the channel's files and the prefix."""
    user = channel_user(settings, channel)
    for old, new in ((f'"channel-{channel}.secret"', repr(str(secret_file(settings.access_dir, user)))),
                     ('"ca.pem"', repr(str(settings.access_dir / "ca.pem"))),
                     ('"kafka:9092"', repr(settings.bootstrap_servers)),
                     *also,
                     (f'"channel-{channel}"', repr(user)),
                     ('"complaints.', '"' + settings.topic("complaints."))):
        assert old in code, f"the page's code no longer has {old}"
        code = code.replace(old, new)
    return code


async def test_the_submit_pages_producer_publishes_its_complaint_under_its_key(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    code = as_channel(tab(DOCS / "submit.md", "Python (aiokafka)"), settings, "web")
    await asyncio.to_thread(exec, compile(code, "submit.md", "exec"), {})  # noqa: S102 - the page's code
    (record,) = await consume(settings, SUBMITTED, expected=1, quiet_s=0.5)
    body = json.loads(record.value)
    assert record.key == body["submission_id"].encode() == b"web-2026-000123"
    assert record.partition == partition_for(record.key, settings.partitions)


class Delivered(Exception):
    """Raised by the test's `deliver_once` to leave the page's endless read loop."""


async def test_the_replies_pages_consumer_reads_in_the_group_it_names(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    notice = {"event_id": "notice-1", "kind": "accepted", "channel": "sms", "text": "LAPOR! …",
              "submission_id": "1708-1", "at": "2026-03-02T09:16:00+07:00"}
    await produce(settings, notifications_topic_name("sms"), [(b"LPR-1", json.dumps(notice).encode())])
    got: list[dict[str, Any]] = []

    def deliver_once(n: dict[str, Any]) -> None:
        got.append(n)
        raise Delivered

    user = channel_user(settings, "sms")
    code = as_channel(tab(DOCS / "replies.md", ""), settings, "sms",
                      ('"channel-sms.gateway"', repr(f"{user}.gateway")))
    with pytest.raises(Delivered):
        await asyncio.wait_for(asyncio.to_thread(
            exec, compile(code, "replies.md", "exec"), {"deliver_once": deliver_once}), 60)  # noqa: S102
    assert got == [notice]
