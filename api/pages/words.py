"""The pages' words in Bahasa Indonesia (the default) and English, one table per page."""

from __future__ import annotations

from fastapi import Request

LANGUAGES = ("id", "en")
LANGUAGE_COOKIE = "tilik_lang"

INBOX_WORDS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Kotak masuk dispatch",
        "sign_in": "Masuk",
        "sign_in_intro": "Masukkan kunci API instansi Anda.",
        "key": "Kunci API",
        "bad_key": "Kunci tidak berlaku (salah, diganti, atau dicabut), atau bukan kunci instansi.",
        "sign_out": "Keluar",
        "agency": "Instansi",
        "all": "Semua",
        "open": "Baru",
        "acknowledged": "Ditangani",
        "resolved": "Selesai",
        "nothing": "Tidak ada dispatch.",
        "acknowledge": "Tangani",
        "acked_by": "Nama petugas",
        "acked_by_who": "Ditangani oleh",
        "routed_at": "Dikirim",
        "deadline": "Batas tanggap",
        "camera": "Kamera",
        "place": "Lokasi",
        "severity": "Tingkat",
        "escalation": "Eskalasi",
        "not_found": "Dispatch tidak ditemukan.",
        "back": "Kembali",
        "language": "English",
    },
    "en": {
        "title": "Dispatch inbox",
        "sign_in": "Sign in",
        "sign_in_intro": "Enter your agency's API key.",
        "key": "API key",
        "bad_key": "The key is not valid (wrong, rotated or revoked), or not an agency's key.",
        "sign_out": "Sign out",
        "agency": "Agency",
        "all": "All",
        "open": "Open",
        "acknowledged": "Acknowledged",
        "resolved": "Resolved",
        "nothing": "No dispatches.",
        "acknowledge": "Acknowledge",
        "acked_by": "Your name",
        "acked_by_who": "Acknowledged by",
        "routed_at": "Sent",
        "deadline": "Respond by",
        "camera": "Camera",
        "place": "Place",
        "severity": "Severity",
        "escalation": "Escalation",
        "not_found": "No such dispatch.",
        "back": "Back",
        "language": "Bahasa Indonesia",
    },
}


MAP_WORDS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Peta pusat komando",
        "public_title": "Peta kamera publik",
        "sign_in": "Masuk",
        "sign_in_intro": "Masukkan kunci API operator.",
        "key": "Kunci API",
        "bad_key": "Kunci tidak berlaku (salah, diganti, atau dicabut), atau bukan kunci operator.",
        "sign_out": "Keluar",
        "language": "English",
        "public_map": "Peta publik",
        "online": "Aktif",
        "offline": "Mati",
        "trouble": "Bermasalah",
        "unknown": "Tidak diketahui",
        "coverage": "Kamera aktif per kecamatan",
        "no_cameras": "tanpa kamera",
        "alerts": "Peringatan terbuka",
        "no_alerts": "Tidak ada peringatan terbuka.",
        "cameras": "Kamera",
        "registered": "terdaftar",
        "online_count": "aktif",
        "pick_area": "Pilih kecamatan di peta untuk melihat kamera dan peringatannya.",
        "ago": "lalu",
        "live": "langsung",
        "reconnecting": "menyambung ulang",
        "source": "Sumber peta",
        "unplaced": "kamera tanpa lokasi",
    },
    "en": {
        "title": "Command-center map",
        "public_title": "Public camera map",
        "sign_in": "Sign in",
        "sign_in_intro": "Enter an operator's API key.",
        "key": "API key",
        "bad_key": "The key is not valid (wrong, rotated or revoked), or not an operator's key.",
        "sign_out": "Sign out",
        "language": "Bahasa Indonesia",
        "public_map": "Public map",
        "online": "Online",
        "offline": "Offline",
        "trouble": "Trouble",
        "unknown": "Unknown",
        "coverage": "Cameras online per kecamatan",
        "no_cameras": "no cameras",
        "alerts": "Open alerts",
        "no_alerts": "No open alerts.",
        "cameras": "Cameras",
        "registered": "registered",
        "online_count": "online",
        "pick_area": "Pick a kecamatan on the map to list its cameras and alerts.",
        "ago": "ago",
        "live": "live",
        "reconnecting": "reconnecting",
        "source": "Map source",
        "unplaced": "cameras without a place",
    },
}


def language_of(request: Request, asked: str | None) -> str:
    """``?lang=``, else the language cookie, else the browser's preference; Indonesian by default."""
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in LANGUAGES:
        return remembered
    preferred = request.headers.get("accept-language", "")
    return "en" if preferred.lower().startswith("en") else "id"
