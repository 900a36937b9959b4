"""Classification on realistic complaint texts (formal and informal Bahasa Indonesia)."""

from __future__ import annotations

import pytest

from schemas import Category, ComplaintType, SlaTier
from services.intake.classify import Classifier, load_rules

C, A, I = "complaint", "aspiration", "information_request"
S, D = "standard_5d", "dispute_14d"

# (text, category, type, sla tier)
CASES: list[tuple[str, str, str, str]] = [
    ("KTP-el saya sudah 3 bulan belum jadi, katanya blangko habis", "population_documents", C, S),
    ("e ktp blm jadi2 padahal udah rekam dari januari", "population_documents", C, S),
    ("Bagaimana cara mengurus akta kelahiran anak yang lahir di luar negeri?", "population_documents", I, S),
    ("Petugas disdukcapil minta uang 200rb supaya KK cepat selesai", "population_documents", C, D),
    ("NIK saya tidak terdaftar waktu mau daftar BPJS, mohon dibantu", "population_documents", C, S),
    ("Mohon info syarat pembuatan KIA untuk anak usia 5 tahun", "population_documents", I, S),
    ("surat pindah saya ditolak kelurahan tanpa alasan jelas", "population_documents", C, S),
    ("BPJS Kesehatan saya dinonaktifkan padahal iuran selalu dibayar", "health_insurance", C, S),
    ("bpjs kes gak bisa dipake di faskes, katanya kartu tdk aktif", "health_insurance", C, S),
    ("Apa syarat pindah faskes tingkat pertama peserta JKN?", "health_insurance", I, S),
    ("KIS saya hilang, bagaimana cara cetak ulang?", "health_insurance", I, S),
    ("Status PBI saya dicabut tanpa pemberitahuan", "health_insurance", C, S),
    ("Pencairan JHT BPJS Ketenagakerjaan sudah 2 bulan belum cair", "employment_insurance", C, S),
    ("gmn klaim jht kalau perusahaan sudah tutup? mohon info", "employment_insurance", I, S),
    ("Perusahaan tidak mendaftarkan karyawan ke BP Jamsostek", "employment_insurance", C, S),
    ("Listrik di desa kami padam setiap malam sejak seminggu", "electricity", C, S),
    ("token listrik sudah dibeli tapi tidak masuk ke meteran", "electricity", C, S),
    ("Tagihan listrik bulan ini naik 3x lipat, tolong dicek PLN", "electricity", C, S),
    ("Bagaimana cara mengajukan subsidi listrik untuk rumah tangga miskin?", "electricity", I, S),
    ("Petugas PLN minta uang rokok untuk pasang meteran baru", "electricity", C, D),
    ("Tiang listrik miring hampir roboh di depan rumah warga", "electricity", C, S),
    ("Bansos PKH keluarga saya tidak cair sejak tahun lalu", "social_assistance", C, S),
    ("BPNT dipotong oleh pendamping, pungli ini!", "social_assistance", C, D),
    ("Apakah lansia tanpa KK bisa dapat bantuan sosial?", "social_assistance", I, S),
    ("nama sy gak ada di DTKS padahal miskin", "social_assistance", C, S),
    ("Mengusulkan agar penyaluran bansos lewat kantor pos diperbanyak", "social_assistance", A, S),
    ("PPDB zonasi tidak adil, anak saya tidak diterima padahal dekat", "education", C, S),
    ("Sekolah memungut uang gedung 5 juta, katanya wajib", "education", C, S),
    ("Kapan pencairan KIP kuliah semester ini?", "education", I, S),
    ("Guru honorer belum digaji 4 bulan", "education", C, S),
    ("ijazah anak saya ditahan sekolah karena tunggakan SPP", "education", C, S),
    ("Jalan rusak parah di Jl. Raya Cibiru, banyak lubang", "roads_infrastructure", C, S),
    ("Jembatan penghubung dua desa putus sejak banjir", "roads_infrastructure", C, S),
    ("Usul dibangun trotoar di sepanjang jalan menuju sekolah", "roads_infrastructure", A, S),
    ("Lampu jalan (PJU) mati semua di perumahan kami", "roads_infrastructure", C, S),
    ("drainase tersumbat, air meluap ke jalan tiap hujan", "roads_infrastructure", C, S),
    ("PKL menutup trotoar dan jalan di depan pasar", "public_order", C, S),
    ("Parkir liar di depan minimarket, jukir memaksa bayar", "public_order", C, S),
    ("Balap liar tiap malam minggu, sangat mengganggu warga", "public_order", C, S),
    ("Ada judi online marak di kampung kami", "public_order", C, S),
    ("Pelayanan di puskesmas sangat lambat, antri 5 jam", "health_services", C, S),
    ("Rumah sakit menolak pasien BPJS di IGD", "health_services", C, S),
    ("Obat di RSUD sering kosong, pasien disuruh beli sendiri", "health_services", C, S),
    ("Air PDAM mati sudah 3 hari di kecamatan kami", "water", C, S),
    ("air keruh dan berbau dari pdam, tidak layak pakai", "water", C, S),
    ("Sampah menumpuk di TPS tidak diangkut seminggu", "environment", C, S),
    ("Pabrik membuang limbah ke sungai, ikan mati", "environment", C, S),
    ("Saran agar ada bank sampah di tiap RW", "environment", A, S),
    ("Angkot sering ngetem sembarangan dan ugal-ugalan", "transportation", C, S),
    ("Bagaimana prosedur perpanjangan SIM yang sudah mati?", "transportation", I, S),
    ("Ada calo di samsat menawarkan STNK cepat", "transportation", C, D),
    ("Sertifikat tanah PTSL saya belum terbit sejak 2023", "land_housing", C, S),
    ("Sengketa tanah warisan dengan tetangga, mohon mediasi BPN", "land_housing", C, D),
    ("Bagaimana cara membayar PBB secara online?", "taxes", I, S),
    ("NPWP saya terblokir di coretax tidak bisa lapor SPT", "taxes", C, S),
    ("Oknum lurah meminta uang pelicin untuk surat keterangan", "civil_service", C, D),
    ("Pegawai kecamatan sering tidak ada di tempat jam kerja", "civil_service", C, S),
    ("Biaya nikah di KUA diminta lebih dari tarif resmi", "religion_hajj", C, S),
    ("Kapan jadwal keberangkatan haji tahun depan untuk porsi saya?", "religion_hajj", I, S),
    ("Sinyal internet di desa kami sangat buruk, tidak ada BTS", "telecommunication", C, S),
    ("Saya diteror pinjol ilegal, data saya disebar", "telecommunication", C, S),
    ("Gaji di bawah UMR dan THR tidak dibayar perusahaan", "manpower", C, S),
    ("Saya di-PHK tanpa pesangon", "manpower", C, S),
    ("Dana desa diduga dikorupsi kepala desa", "village_funds", C, D),
    ("Mohon informasi penggunaan dana desa tahun ini", "village_funds", I, S),
    ("Terima kasih atas pelayanannya", "other", C, S),
]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules())


@pytest.mark.parametrize(("text", "category", "ctype", "tier"), CASES, ids=[c[0][:40] for c in CASES])
def test_realistic_complaints(classifier: Classifier, text: str, category: str, ctype: str,
                              tier: str) -> None:
    assert classifier.category(text, None).value == category
    assert classifier.type(text, None).value == ctype
    assert classifier.sla_tier(text, None).value == tier



def test_every_shipped_category_is_covered() -> None:
    assert {c for _, c, _, _ in CASES} == {c.value for c in Category}


def test_channel_value_wins_and_is_recorded(classifier: Classifier) -> None:
    text = "Listrik padam terus"
    category = classifier.category(text, Category.water)
    assert category.value == "water" and category.decided.source == "channel"
    ctype = classifier.type(text, ComplaintType.aspiration)
    assert ctype.value == "aspiration" and ctype.decided.source == "channel"
    assert classifier.sla_tier("pungli", True).value == SlaTier.field_60d.value


def test_inferred_decisions_name_their_rule(classifier: Classifier) -> None:
    decided = classifier.category("token listrik tidak masuk", None).decided
    assert decided.source == "inferred" and decided.rule == "category.electricity:token listrik"
    assert classifier.sla_tier("ada pungli", None).decided.rule == "sla_tier.dispute_14d:pungli"
