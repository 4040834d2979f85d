"""Repairing mojibake: UTF-8 bytes that some step decoded as cp1252 or latin-1.

"Transportation’s" written as UTF-8 (E2 80 99) and read back as latin-1 becomes
"Transportationâ\\x80\\x99s"; read as cp1252 it becomes "Transportationâ€™s". Both round-trip: encode
each character back to its single byte and decode the bytes as UTF-8. A value that does not
round-trip (real "é", "Â°" typed on purpose, ...) is left alone.
"""

from __future__ import annotations

# cp1252 puts printable characters where latin-1 has C1 controls; both spellings occur in the wild.
_CP1252_EXTRA = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_CONTINUATION = "".join(sorted(set(map(chr, range(0x80, 0xC0))) | set(_CP1252_EXTRA)))

# A lead byte of a multi-byte UTF-8 sequence (as latin-1) followed by a continuation byte. RE2 syntax,
# so DuckDB can find the few affected values before Python looks at any of them.
SUSPECT_PATTERN = "[\u00c2-\u00f4][" + "".join(f"\\x{{{ord(c):x}}}" for c in _CONTINUATION) + "]"


def _to_bytes(text: str) -> bytes | None:
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 0x100:
            out.append(code)
        elif ch in _CP1252_EXTRA:
            out.append(_CP1252_EXTRA[ch])
        else:
            return None
    return bytes(out)


def repair_mojibake(text: str) -> str:
    """The text with UTF-8-read-as-cp1252/latin-1 undone (twice at most, for doubly-garbled text)."""
    for _ in range(2):
        raw = _to_bytes(text)
        if raw is None:
            return text
        try:
            fixed = raw.decode("utf-8")
        except UnicodeDecodeError:
            return text
        if fixed == text:
            return text
        text = fixed
    return text
