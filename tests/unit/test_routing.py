"""The rule engine on realistic complaints, the rule-file validator, and redaction."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import AcceptedComplaint
from services.domain.registry import load_registry
from services.runtime.settings import Settings
from services.intake.classify import Classifier, load_rules as load_classification
from services.router.engine import Router
from services.router.redact import EMAIL_MASK, NIK_MASK, PHONE_MASK, for_agency, mask_identity
from services.router.rules import RuleFileError, load_rules, parse_rules

REGISTRY = load_registry(Settings().agencies_file)
ROUTER = Router(load_rules(REGISTRY), REGISTRY)
CLASSIFIER = Classifier(load_classification())
T = "2026-03-02T09:15:00+07:00"


def complaint(text: str, region: str | None = None, hint: str | None = None,
              **extra: Any) -> AcceptedComplaint:
    """A complaint as intake would classify it."""
    return AcceptedComplaint.model_validate({
        "event_id": "e", "complaint_id": "LPR-7K2QX9M4TD5W", "submission_id": "s", "channel": "web",
        "submitted_at": T, "accepted_at": T, "body": text,
        "type": CLASSIFIER.type(text, None).value, "category": CLASSIFIER.category(text, None).value,
        "sla_tier": CLASSIFIER.sla_tier(text, None).value, "classification": {},
        "location": {"region_code": region} if region else None, "agency_hint": hint, **extra,
    })


# (text, region, hint, expected agency (None = triage), copies, rule id)
CASES: list[tuple[str, str | None, str | None, str | None, tuple[str, ...], str]] = [
    ("BPJS Kesehatan saya dinonaktifkan padahal iuran lancar", "32.73", None, "bpjs-kesehatan", (), "bpjs-kesehatan"),
    ("bpjs kes tidak bisa dipakai di faskes", None, None, "bpjs-kesehatan", (), "bpjs-kesehatan"),
    ("Kartu KIS saya belum aktif", "35.78", None, "bpjs-kesehatan", (), "bpjs-kesehatan"),
    ("Status PBI JKN dicabut tanpa pemberitahuan", None, None, "bpjs-kesehatan", (), "bpjs-kesehatan"),
    ("Iuran BPJS naik tapi layanan sama saja", "31.71", None, "bpjs-kesehatan", (), "bpjs-kesehatan"),
    ("Pencairan JHT sudah 2 bulan belum cair", None, None, "bpjs-ketenagakerjaan", (), "bpjs-ketenagakerjaan"),
    ("BPJS Ketenagakerjaan tidak mencatat iuran saya", "36.71", None, "bpjs-ketenagakerjaan", (), "bpjs-ketenagakerjaan"),
    ("Klaim jaminan hari tua ditolak", None, None, "bpjs-ketenagakerjaan", (), "bpjs-ketenagakerjaan"),
    ("Perusahaan tidak mendaftarkan ke BP Jamsostek", "12.71", None, "bpjs-ketenagakerjaan", (), "bpjs-ketenagakerjaan"),
    ("KTP-el saya sudah 3 bulan belum jadi", "32.73", None, "kemendagri-dukcapil", (), "dukcapil"),
    ("e ktp blm jadi2", None, None, "kemendagri-dukcapil", (), "dukcapil"),
    ("Akta kelahiran anak salah nama", "33.74", None, "kemendagri-dukcapil", (), "dukcapil"),
    ("Kartu keluarga belum diperbarui setelah pindah", None, None, "kemendagri-dukcapil", (), "dukcapil"),
    ("Disdukcapil tutup saat jam kerja", "51.71", None, "kemendagri-dukcapil", (), "dukcapil"),
    ("Blangko KTP habis di kecamatan", "64.72", None, "kemendagri-dukcapil", (), "dukcapil"),
    ("Listrik padam setiap malam", "32.04", None, "pln", (), "pln"),
    ("Token listrik tidak masuk ke meteran", None, None, "pln", (), "pln"),
    ("Tagihan PLN naik tiga kali lipat", "35.15", None, "pln", (), "pln"),
    ("Subsidi listrik saya dicabut", None, None, "pln", (), "pln"),
    ("Pemadaman bergilir tanpa pengumuman", "73.71", None, "pln", (), "pln"),
    ("Bansos PKH tidak cair sejak tahun lalu", "32.01", None, "kemensos", (), "kemensos"),
    ("BPNT dipotong pendamping", None, None, "kemensos", (), "kemensos"),
    ("Bantuan sosial salah sasaran di desa kami", "53.71", None, "kemensos", (), "kemensos"),
    ("Nama saya hilang dari DTKS", None, None, "kemensos", (), "kemensos"),
    ("PPDB zonasi tidak adil", "32.73", None, "kemendikdasmen", (), "pendidikan"),
    ("KIP kuliah belum cair semester ini", None, None, "kemendikdasmen", (), "pendidikan"),
    ("Sekolah memungut uang gedung", "33.74", None, "kemendikdasmen", (), "pendidikan"),
    ("Pelayanan puskesmas sangat lambat", "35.78", None, "kemenkes", (), "kesehatan"),
    ("Obat di RSUD sering kosong", None, None, "kemenkes", (), "kesehatan"),
    ("NPWP terblokir di coretax", None, None, "kemenkeu-djp", (), "pajak"),
    ("Bagaimana cara membayar PBB online?", "32.73", None, "kemenkeu-djp", (), "pajak"),
    ("Sertifikat tanah PTSL belum terbit", "34.04", None, "atr-bpn", (), "pertanahan"),
    ("Biaya nikah di KUA melebihi tarif", None, None, "kemenag", (), "haji-kua"),
    ("Jadwal keberangkatan haji mundur terus", "11.71", None, "kemenag", (), "haji-kua"),
    ("Gaji di bawah UMR dan THR tidak dibayar", "36.03", None, "kemnaker", (), "ketenagakerjaan"),
    ("Saya di-PHK tanpa pesangon", None, None, "kemnaker", (), "ketenagakerjaan"),
    ("Adik saya PMI di Malaysia tidak digaji majikan", None, None, "bp2mi", (), "pekerja-migran"),
    ("Sinyal internet sangat buruk, tidak ada BTS", "94.01", None, "komdigi", (), "telekomunikasi"),
    ("Saya diteror pinjol ilegal", None, None, "komdigi", (), "telekomunikasi"),
    ("Penggunaan dana desa tidak transparan", "32.05", None, "kemendes", (), "dana-desa"),
    ("Dana desa dikorupsi kepala desa", "32.05", None, "kpk", ("ombudsman",), "korupsi"),
    ("Ada dugaan suap dalam tender proyek", None, None, "kpk", ("ombudsman",), "korupsi"),
    ("Pungli di kantor kelurahan untuk surat domisili", "31.74", None, "kemenpan-rb", ("ombudsman",), "pungli-aparatur"),
    ("Pegawai kecamatan tidak ada di tempat jam kerja", "32.73", None, "kemenpan-rb", ("ombudsman",), "pungli-aparatur"),
    ("Perpanjangan SIM dipersulit di Satpas", None, None, "polri", (), "sim-stnk"),
    ("STNK belum jadi di samsat", "32.73", None, "polri", (), "sim-stnk"),
    ("Pabrik membuang limbah ke sungai", "32.04", None, "kemen-lh", (), "lingkungan-nasional"),
    ("Jalan rusak parah di Jakarta Timur", "31.75", None, "pemda-31", ("kemen-pu",), "jalan-dki"),
    ("Jembatan di Jakarta Utara retak", "31.72", None, "pemda-31", ("kemen-pu",), "jalan-dki"),
    ("Jalan rusak parah di Cibiru", "32.73", None, "pemda-32-73", (), "region"),
    ("Sampah menumpuk tidak diangkut", "35.78", None, "pemda-35-78", (), "region"),
    ("PKL menutup trotoar", "33.74", None, "pemda-33-74", (), "region"),
    ("Air PDAM mati sudah tiga hari", "51.71", None, "pemda-51-71", (), "region"),
    ("Banjir tiap hujan di perumahan", "32.73.01", None, "pemda-32-73", (), "region"),
    ("Lampu jalan mati semua", "91", None, "pemda-91", (), "region"),
    ("Parkir liar di depan pasar", "73", None, "pemda-73", (), "region"),
    ("Angkot ugal-ugalan", "32.75", None, "pemda-32-75", (), "region"),
    ("Terima kasih atas pelayanannya", None, None, None, (), "triage"),
    ("Saya mau mengadu tapi bingung ke mana", None, None, None, (), "triage"),
    ("Jalan rusak di kampung kami", None, None, None, (), "triage"),
    ("Listrik padam terus", None, "bpjs-kesehatan", "bpjs-kesehatan", (), "agency_hint"),
    ("Jalan rusak", "32.73", "pemda-32-04", "pemda-32-04", (), "agency_hint"),
    ("Jalan rusak", "32.73", "tidak-ada", "pemda-32-73", (), "region"),
]


@pytest.mark.parametrize(("text", "region", "hint", "agency", "copies", "rule"), CASES,
                         ids=[c[0][:40] for c in CASES])
def test_realistic_routing(text: str, region: str | None, hint: str | None, agency: str | None,
                           copies: tuple[str, ...], rule: str) -> None:
    decision = ROUTER.decide(complaint(text, region, hint))
    assert (decision.agency_id, decision.copies, decision.rule_id) == (agency, copies, rule)
    assert decision.reason



def test_excluded_agencies_are_skipped() -> None:
    c = complaint("Dana desa dikorupsi kepala desa", "32.05")
    assert ROUTER.decide(c, exclude={"kpk"}).agency_id == "kemendes"
    assert ROUTER.decide(c, exclude={"kpk", "kemendes"}).agency_id == "pemda-32-05"
    assert ROUTER.decide(c, exclude={"kpk", "kemendes", "pemda-32-05"}).triage


def test_every_agency_topic_name_is_valid() -> None:
    import re

    assert all(re.fullmatch(r"[a-z0-9-]+", a) for a in REGISTRY.agencies)
    # A regional government for every province and regency/city.
    assert len([a for a in REGISTRY.agencies if a.startswith("pemda-")]) == 38 + 514


GOOD = "rules:\n  - {id: a, agency: pln, categories: [electricity]}\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules:\n  - {id: a, agency: nope, categories: [electricity]}\n", "rule 'a': unknown agency 'nope'"),
        ("rules:\n  - {id: a, agency: pln, categories: [electricity], copies: [x-y]}\n", "unknown agency 'x-y'"),
        (GOOD + "  - {id: a, agency: pln, keywords: [token]}\n", "rule 'a': duplicate rule id"),
        ("rules:\n  - {id: a, agency: pln}\n", "rule 'a': has no condition"),
        ("rules:\n  - {id: a, agency: pln, patterns: ['([a-z']}\n", "rule 'a': malformed pattern"),
        ("rules:\n  - {id: a, agency: pln, regions: ['99.99']}\n", "can never match"),
        ("rules:\n  - {id: a, agency: pln, keywords: ['!!!']}\n", "can never match"),
        ("rules:\n  - {id: a, agency: pln, categories: [listrik]}\n", "rule 'a': categories.0"),
        ("rules:\n  - {id: a, agency: pln, colour: red, categories: [electricity]}\n", "colour"),
        ("rules: [", "not valid YAML"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_broken_rule_files_are_refused_with_file_rule_and_problem(text: str, problem: str) -> None:
    with pytest.raises(RuleFileError) as err:
        parse_rules(text, REGISTRY, "my-routes.yaml")
    assert str(err.value).startswith("my-routes.yaml: ") and problem in str(err.value)


def test_masking_covers_nik_phone_and_email() -> None:
    text = ("NIK 3273011201900001, hp 0812-3456-7890 / +62 812 3456 7890 / 6281234567890, "
            "kantor (022) 7654321? surel siti@mail.id. Rp 150.000 pada 12-03-2026 di RT 05")
    masked = mask_identity(text)
    for secret in ("3273011201900001", "3456", "siti@mail.id", "7654321"):
        assert secret not in masked
    assert NIK_MASK in masked and PHONE_MASK in masked and EMAIL_MASK in masked
    assert "Rp 150.000" in masked and "12-03-2026" in masked and "RT 05" in masked


def test_anonymous_complaint_loses_reporter_and_identity_in_text() -> None:
    c = complaint("Saya (NIK 3273011201900001, 081234567890) dipersulit", privacy="anonymous",
                  reporter={"name": "Budi", "phone": "+6281234567890", "nik": "3273011201900001"},
                  title="Lapor dari 081234567890")
    visible = for_agency(c)
    assert visible.reporter is None
    assert "3273011201900001" not in visible.body and "081234567890" not in visible.body
    assert visible.title is not None and "081234567890" not in visible.title
    public = complaint("Nomor saya 081234567890", reporter={"name": "Budi"})
    assert for_agency(public) == public


@pytest.mark.parametrize("text", [
    "hp ++6281234567890 ya",  # a stray plus before +62
    "hp ０８１２３４５６７８９０ ya",  # full-width digits
    "hp 0 8 1 2 3 4 5 6 7 8 9 0 ya",  # digit by digit
    "hp 6 2 8 1 2 3 4 5 6 7 8 9 0",
    "NIK ３２７３０１１２０１９００００１",
    "NIK 3 2 7 3 0 1 1 2 0 1 9 0 0 0 0 1",
    "surel budi(at)mail.id", "surel budi [at] mail [dot] id", "surel BUDI {AT} MAIL.ID",
    "surel budi＠mail.id",
])
def test_identity_written_to_slip_past_the_masks_is_masked_too(text: str) -> None:
    masked = mask_identity(text)
    digits = [ch for ch in masked.translate({cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}) if ch.isdigit()]
    assert len(digits) < 8, masked  # no number of a phone's or a NIK's length is left
    assert "budi" not in masked.lower(), masked
    assert mask_identity(masked) == masked  # masking again changes nothing (a copy equals its original)


def test_dates_sums_and_short_numbers_stay_readable() -> None:
    text = "Rp 150.000 pada 12-03-2026 jam 10.30 di RT 05 RW 0 2, rumah no 1 2, (at) pasar"
    assert mask_identity(text) == text
