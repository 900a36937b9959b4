"""A realistic complaint stream for the demo, load tests and people writing their own channel:
every channel including raw SMS, Bahasa Indonesia texts across the common categories and
regions, some anonymous or confidential, some invalid, some duplicated."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from services.runtime.topics import SMS, SUBMITTED

TEXTS = [
    ("KTP-el saya sudah 3 bulan belum jadi, katanya blangko habis", "32.73"),
    ("BPJS Kesehatan saya dinonaktifkan padahal iuran selalu dibayar", "35.78"),
    ("Listrik padam setiap malam sejak seminggu, tolong PLN", "73.71"),
    ("Bansos PKH keluarga saya tidak cair sejak tahun lalu", "32.01"),
    ("Pencairan JHT BPJS Ketenagakerjaan sudah 2 bulan belum cair", "31.71"),
    ("Jalan rusak parah di depan sekolah, banyak lubang", "33.74"),
    ("Sampah menumpuk di TPS tidak diangkut seminggu", "51.71"),
    ("Petugas kelurahan minta uang pelicin untuk surat domisili", "31.74"),
    ("Dana desa diduga dikorupsi kepala desa", "32.05"),
    ("PPDB zonasi tidak adil, anak saya tidak diterima", "36.71"),
    ("Pelayanan puskesmas sangat lambat, antri 5 jam", "91.03"),
    ("Bagaimana cara mengurus akta kelahiran anak?", None),
    ("Terima kasih atas pelayanannya", None),
    ("Sinyal internet sangat buruk di desa kami", "94.01"),
    ("Air PDAM mati sudah 3 hari", "64.72"),
]
CHANNELS = ["web", "mobile", "twitter", "whatsapp", "email", "other"]
BAD = [b"{not json", b"[]", b'{"submission_id": "x", "channel": "fax"}', b"\xff\xfe",
       b'{"submission_id": "y", "channel": "web", "submitted_at": "2026-01-01T00:00:00", "body": "x"}']


@dataclass(frozen=True)
class Publication:
    topic: str
    key: bytes | None
    value: bytes


def web_submission(submission_id: str, i: int, submitted_at: str) -> tuple[bytes, bytes]:
    """(key, value) of a valid web submission with the i-th text of TEXTS: steady load for
    benchmarks and scale tests, where every record must be accepted and routed."""
    text, region = TEXTS[i % len(TEXTS)]
    body: dict[str, object] = {"submission_id": submission_id, "channel": "web",
                               "submitted_at": submitted_at, "body": text}
    if region:
        body["location"] = {"region_code": region}
    return submission_id.encode(), json.dumps(body).encode()


def stream(seed: int, at: datetime, n: int) -> Iterator[Publication]:
    """`n` input records submitted at event time `at` (deterministic for a seed)."""
    rnd = random.Random(seed)
    for i in range(n):
        roll = rnd.random()
        text, region = rnd.choice(TEXTS)
        if roll < 0.05:
            yield Publication(SUBMITTED, f"bad-{seed}-{i}".encode(), rnd.choice(BAD))
            continue
        if roll < 0.25:
            prefix = rnd.choice(["", "", "RAHASIA ", "ANONIM: "])
            if roll > 0.23:  # a keyword and nothing else: rejected, and the sender told why
                prefix, text = "ANONIM", ""
            msg = {"message_id": f"sms-{seed}-{i}", "msisdn": f"08{rnd.randint(1000000000, 9999999999)}",
                   "text": prefix + text, "received_at": at.isoformat()}
            yield Publication(SMS, msg["msisdn"].encode(), json.dumps(msg).encode())
            continue
        sub: dict[str, object] = {
            "submission_id": f"{seed}-{i}", "channel": rnd.choice(CHANNELS),
            "submitted_at": at.isoformat(), "body": text,
            "privacy": rnd.choice(["public", "public", "confidential", "anonymous"]),
            "reporter": {"name": "Warga", "phone": "081234567890"},
        }
        if region:
            sub["location"] = {"region_code": region}
        value = json.dumps(sub).encode()
        yield Publication(SUBMITTED, str(sub["submission_id"]).encode(), value)
        if roll > 0.95:  # a channel retry: the same submission again
            yield Publication(SUBMITTED, str(sub["submission_id"]).encode(), value)
