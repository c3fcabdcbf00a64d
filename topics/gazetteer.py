"""The city's kecamatan (Semarang's sixteen), with approximate centres and a few kelurahan each:
what placements are checked against and simulated cities are spread over."""

from __future__ import annotations

# Approximate centre (lat, lon) of each kecamatan and a few of its kelurahan.
SEMARANG: dict[str, tuple[tuple[float, float], tuple[str, ...]]] = {
    "Semarang Tengah": (
        (-6.9826, 110.4160),
        ("Pekunden", "Sekayu", "Kembangsari", "Pindrikan Kidul"),
    ),
    "Semarang Utara": (
        (-6.9620, 110.4170),
        ("Tanjung Mas", "Bandarharjo", "Kuningan", "Dadapsari"),
    ),
    "Semarang Timur": ((-6.9780, 110.4330), ("Rejosari", "Mlatiharjo", "Kebonagung", "Sarirejo")),
    "Semarang Selatan": (
        (-6.9960, 110.4290),
        ("Peterongan", "Lamper Kidul", "Pleburan", "Mugassari"),
    ),
    "Semarang Barat": ((-6.9790, 110.3900), ("Tawangmas", "Krobokan", "Kembangarum", "Bongsari")),
    "Gayamsari": ((-6.9870, 110.4510), ("Sawah Besar", "Kaligawe", "Siwalan", "Tambakrejo")),
    "Genuk": ((-6.9640, 110.4790), ("Terboyo Kulon", "Trimulyo", "Bangetayu Wetan", "Genuksari")),
    "Pedurungan": (
        (-7.0010, 110.4770),
        ("Tlogosari Kulon", "Palebon", "Pedurungan Kidul", "Muktiharjo Kidul"),
    ),
    "Tembalang": ((-7.0560, 110.4380), ("Tembalang", "Bulusan", "Sendangmulyo", "Meteseh")),
    "Banyumanik": ((-7.0660, 110.4170), ("Srondol Wetan", "Pedalangan", "Padangsari", "Sumurboto")),
    "Candisari": ((-7.0090, 110.4230), ("Jatingaleh", "Kaliwiru", "Candi", "Jomblang")),
    "Gajahmungkur": (
        (-7.0100, 110.4060),
        ("Lempongsari", "Bendan Ngisor", "Sampangan", "Petompon"),
    ),
    "Gunungpati": ((-7.0830, 110.3770), ("Sekaran", "Sukorejo", "Patemon", "Gunungpati")),
    "Mijen": ((-7.0620, 110.3150), ("Jatibarang", "Wonolopo", "Mijen", "Bubakan")),
    "Ngaliyan": ((-7.0000, 110.3530), ("Tambakaji", "Bringin", "Purwoyoso", "Ngaliyan")),
    "Tugu": ((-6.9720, 110.3140), ("Mangkang Wetan", "Randugarut", "Karanganyar", "Tugurejo")),
}

#: every kecamatan of the city, in order
KECAMATAN: tuple[str, ...] = tuple(sorted(SEMARANG))

