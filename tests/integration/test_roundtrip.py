"""One valid event of each contract type through the real broker and back through the
schemas; the invalid example of each type is refused on read with a clear error."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas.events import ALL_EVENTS
from services.runtime.settings import Settings
from tests.examples import INVALID, VALID
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce


async def test_every_event_type_round_trips_through_kafka(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    topic = "complaints.status.v1"  # any contract topic carries bytes; one keeps it quick
    records: list[tuple[bytes | None, bytes]] = []
    for model in ALL_EVENTS:
        records.append((model.schema_name.encode(), model.model_validate(VALID[model]).to_bytes()))
        records.append((model.schema_name.encode(), json.dumps(INVALID[model][0]).encode()))
    await produce(settings, topic, records, partition=0)

    got = await consume(settings, topic, expected=len(records))
    assert len(got) == len(records)
    by_name = {m.schema_name: m for m in ALL_EVENTS}
    for good, bad in zip(got[0::2], got[1::2], strict=True):
        model = by_name[good.key.decode()]
        assert model.model_validate_json(good.value) == model.model_validate(VALID[model])
        with pytest.raises(ValidationError) as err:
            model.model_validate_json(bad.value)
        assert INVALID[model][1] in str(err.value)
