"""The corpus entries that are not plain UTF-8 text, written at test time.

GBK, Windows-1252 and Latin-1 bytes, control characters, a ZIP archive and 1 MB fields do not
belong in a reviewable diff, so their content lives here as Python text and is encoded on demand.
`tests/bad_inputs/corpus.yaml` names each file; `write_generated(folder)` writes them all.

    .venv/bin/python -m tests.bad_inputs.make_corpus /tmp/corpus   # to look at the bytes
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

HEADER = "call_id,caller_phone,call_start,wait_seconds,duration_seconds,outcome,request_id"
MB = 1 << 20


def _event(event_id: str, ts: str, event: str, session: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": event_id,
        "session_id": session,
        "login_email": None,
        "citizen_id": None,
        "event": event,
        "service_code": None,
        "request_id": None,
        "ts": ts,
    }
    return {**base, **fields}


def _jsonl(events: list[dict[str, object]]) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)


# Text of the decoded values the tests compare with (corpus.yaml repeats them).
GBK_NOTE = "市民来电：路灯不亮，已经三天了"
CP1252_NOTE = "Café – Straße, 5 € für Müller"
LATIN1_EMAIL = "josé.müller@example.com"
LATIN1_CITY = "Düsseldorf"


def gbk_hotline() -> bytes:
    return (
        f"{HEADER},note\n"
        f"GBK-1,,2025-05-01 09:00:00,30,240,answered,,{GBK_NOTE}\n"
        "GBK-2,,2025-05-01 09:01:00,30,240,answered,,王芳（女士）反映噪音问题\n"
    ).encode("gbk")


def cp1252_hotline() -> bytes:
    # '–' and '€' exist in Windows-1252 only, not in ISO 8859-1: what Excel on Windows writes.
    return (
        f"{HEADER},note\n"
        f'CP-1,,2025-05-02 09:00:00,30,240,answered,,"{CP1252_NOTE}"\n'
        "CP-2,,2025-05-02 09:01:00,30,240,answered,,Zoë Brontë\n"
    ).encode("cp1252")


def latin1_web() -> bytes:
    return _jsonl(
        [
            _event("WL1-1", "2025-05-02T09:00:00-04:00", "login", "W-l1", login_email=LATIN1_EMAIL, city=LATIN1_CITY),
            _event("WL1-2", "2025-05-02T09:01:00-04:00", "logout", "W-l1", city="Köln"),
        ]
    ).encode("latin-1")


def bom_crlf_hotline() -> bytes:
    # Excel's "CSV UTF-8": a byte-order mark before the first column name, CRLF line ends.
    rows = [HEADER, "BOM-1,,2025-05-03 09:00:00,30,240,answered,", "BOM-2,,2025-05-03 09:01:00,30,60,abandoned,"]
    return b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n"


CONTROL_NOTE = "\x07bell \x1b[31mred\x1b[0m \x00nul \x0bvt \x1funit"


def control_hotline() -> bytes:
    return (
        f"{HEADER},note\n"
        f"CC-1,,2025-05-04 09:00:00,30,240,answered,,{CONTROL_NOTE}\n"
        "CC-2,,2025-05-04 09:01:00,30,240,answered\x07,,\n"
        'CC-3,,2025-05-04 09:02:00,30,240,answered,,"line one\r\nline two"\n'
    ).encode()


def control_web() -> bytes:
    # Raw control characters inside JSON strings: invalid JSON, written anyway by careless senders.
    lines = [
        '{"event_id": "WCC-1", "session_id": "W-cc", "login_email": null, "citizen_id": null, '
        '"event": "login", "service_code": "tab\there bell\x07 unit\x1fsep", "request_id": null, '
        '"ts": "2025-05-04T09:00:00-04:00"}',
        json.dumps(_event("WCC-2", "2025-05-04T09:01:00-04:00", "view_service", "W-cc\x00nul")),
        json.dumps(_event("WCC-3", "2025-05-04T09:02:00-04:00", "login\x07", "W-cc")),
    ]
    return ("\n".join(lines) + "\n").encode()


def text_1mb_app() -> bytes:
    return _jsonl(
        [
            _event("A1MB-1", "2025-05-05T09:00:00-04:00", "x" * MB, "A-1mb"),
            _event(
                "A1MB-2", "2025-05-05T09:01:00-04:00", "view_service", "A-1mb", service_code="S" * MB, debug="d" * MB
            ),
            _event("A1MB-3", "2025-05-05T09:02:00-04:00", "logout", "A-1mb"),
        ]
    ).encode()


def text_1mb_hotline() -> bytes:
    # A quoted 1 MB transcript with commas and line breaks: longer than Arrow's default read block.
    transcript = ("Caller reports, at length:\n" + "word " * (MB // 5))[:MB]
    return (
        f"{HEADER},transcript\n"
        f'H1MB-1,,2025-05-05 09:00:00,30,240,answered,,"{transcript}"\n'
        "H1MB-2,,2025-05-05 09:01:00,30,240,answered,,short\n"
    ).encode()


def xlsx_as_csv() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buffer.getvalue()


def utf16_without_bom() -> bytes:
    return f"{HEADER}\nU16-1,,2025-04-11 09:00:00,30,240,answered,\n".encode("utf-16-le")


def undecodable_hotline() -> bytes:
    # 0x81 0x8D: not UTF-8; GBK decodes the pair but it is no common character; undefined in cp1252.
    return f"{HEADER}\n".encode() + b"UD-1,,2025-04-11 09:00:00,30,240,answered\x81\x8d,\n"


GENERATED: dict[str, Callable[[], bytes]] = {
    "hotline_2025-05-01_gbk.csv": gbk_hotline,
    "hotline_2025-05-02_cp1252.csv": cp1252_hotline,
    "web_2025-05-02_latin1.jsonl": latin1_web,
    "hotline_2025-05-03_bom_crlf.csv": bom_crlf_hotline,
    "hotline_2025-05-04_control_chars.csv": control_hotline,
    "web_2025-05-04_control_chars.jsonl": control_web,
    "app_2025-05-05_text_1mb.jsonl": text_1mb_app,
    "hotline_2025-05-05_text_1mb.csv": text_1mb_hotline,
    "hotline_2025-04-11_xlsx.csv": xlsx_as_csv,
    "hotline_2025-04-11_utf16_no_bom.csv": utf16_without_bom,
    "hotline_2025-04-11_undecodable.csv": undecodable_hotline,
}


def write_generated(folder: Path) -> dict[str, Path]:
    """Write every generated entry into `folder`; returns file name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, make in GENERATED.items():
        paths[name] = folder / name
        paths[name].write_bytes(make())
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs_generated")
    for path in write_generated(target).values():
        print(path)
