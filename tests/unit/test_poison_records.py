"""A record whose handling raises (a bug met by one record) never stops a service: it goes
to the dead-letter topic as `internal_error` with its position and the error type only, its
writes are dropped, and the records behind it are handled. Each service's real stage on the
in-memory runtime, with one domain function made to fail for one record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from schemas import RejectedEvent
from services.intake.compose import build as build_intake
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.sla_monitor.compose import build as build_sla
from tests.sla_scenario import accepted as sla_accepted

T = "2026-03-02T09:15:00+07:00"
SECRET = "3273011201900001"  # a reporter's NIK in the poison record: must not reach the letter's errors


def submission(sid: str) -> bytes:
    return json.dumps({"submission_id": sid, "channel": "web", "submitted_at": T,
                       "body": f"Jalan rusak, NIK saya {SECRET}", "privacy": "anonymous"}).encode()


def accepted_value(cid: str) -> bytes:
    return json.dumps({**sla_accepted(cid, T)[2], "body": f"Jalan rusak, NIK {SECRET}"}).encode()


def poisoned(target: Callable[..., Any], marker: str) -> Callable[..., Any]:
    def fails_on_marker(*args: Any, **kwargs: Any) -> Any:
        if marker in repr(args):
            raise KeyError("a bug met by one record")
        return target(*args, **kwargs)
    return fails_on_marker


CASES = [  # (stage, module attribute to poison, topic, records, marker, output topic of the rest)
    (build_intake, "services.intake.handlers.accept", "complaints.submitted.v1",
     [(b"a", submission("a")), (b"poison", submission("poison")), (b"b", submission("b"))],
     "'poison'", "complaints.accepted.v1"),
    (build_router, "services.router.handlers.first_route", "complaints.accepted.v1",
     [(c.encode(), accepted_value(c)) for c in ("LPR-AAAAAAAAAAA1", "LPR-PPPPPPPPPPP1",
                                                "LPR-BBBBBBBBBBB2")],
     "LPR-PPPPPPPPPPP1", "complaints.routed.v1"),
    (build_sla, "services.sla_monitor.processor.on_accepted", "complaints.accepted.v1",
     [(c.encode(), accepted_value(c)) for c in ("LPR-AAAAAAAAAAA1", "LPR-PPPPPPPPPPP1",
                                                "LPR-BBBBBBBBBBB2")],
     "LPR-PPPPPPPPPPP1", None),
]


@pytest.mark.parametrize(("build", "attribute", "topic", "records", "marker", "out"), CASES,
                         ids=["intake", "router", "sla_monitor"])
def test_a_poison_record_is_dead_lettered_and_the_rest_go_on(
    monkeypatch: pytest.MonkeyPatch, build: Callable[[Settings], Stage], attribute: str,
    topic: str, records: list[tuple[bytes, bytes]], marker: str, out: str | None,
) -> None:
    module, _, name = attribute.rpartition(".")
    import importlib

    monkeypatch.setattr(attribute, poisoned(getattr(importlib.import_module(module), name), marker))
    topics = MemoryTopics(partitions=1)
    worker = MemoryWorker(build(Settings(partitions=1)), topics, batch_max=10)
    for key, value in records:
        topics.publish(topic, key, value)
    run_until_idle([worker])

    letters = [RejectedEvent.model_validate_json(r.value or b"")
               for r in topics.read("complaints.rejected.v1")]
    assert [(l.reason, l.source_topic, l.source_offset) for l in letters] == [
        ("internal_error", topic, 1)]
    assert [e.msg for e in letters[0].errors] == ["KeyError"]  # the type, never the message
    assert SECRET not in json.dumps([e.model_dump() for e in letters[0].errors])
    # The records before and after it were handled; the poison one wrote nothing.
    if out is not None:  # outputs for exactly the two healthy records (keyed by their ids)
        made = [json.loads(r.value or b"") for r in topics.read(out)]
        whose = {m.get("submission_id") or m["complaint_id"] for m in made}
        assert whose == {k.decode() for k, _ in records if marker.strip("'") not in k.decode()}
    else:
        assert set(worker.stores["clocks"]) == {"LPR-AAAAAAAAAAA1", "LPR-BBBBBBBBBBB2"}
    notes = [n for res in worker.results for _, n in res.notes if n.event == "internal_error"]
    assert [(n.level, n.fields["error"]) for n in notes] == [("error", "KeyError")]
