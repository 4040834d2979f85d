"""Writing the channel drop files: one file per channel per local day (see drops.py for the contract).

Lines are built column-wise with Arrow compute (no per-row Python), and each day's file is a slice of
the lines' contiguous data buffer, written as is. Hotline: CSV with a header, `call_start` city-local
'YYYY-MM-DD HH:MM:SS'. Web and app: JSON lines, `ts` ISO 8601 with the local UTC offset.
A JSON-lines file is not written for a day without events (an empty file is not valid JSON lines);
a hotline file always is (its header row).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.columns import Columns, length, take
from simulator.contacts import EVENTS, OUTCOMES
from simulator.drops import DROP_CHANNELS, drop_file_name
from simulator.timeline import APP, DAY, WEB, LocalClock, day_date

_CHUNK_ROWS = 1_000_000  # lines rendered at once: bounds memory and Arrow's 2 GiB string offsets


def _str_or_null(values: np.ndarray, null: np.ndarray) -> pa.Array:
    arr = pa.array(values, type=pa.string(), mask=null)
    return pc.fill_null(pc.binary_join_element_wise('"', arr, '"', ""), "null")


def _int_or_null(values: np.ndarray) -> pa.Array:
    arr = pa.array(np.asarray(values, dtype=np.int64), mask=np.asarray(values) < 0)
    return pc.fill_null(pc.cast(arr, pa.string()), "null")


def _int_or_empty(values: np.ndarray) -> pa.Array:
    arr = pa.array(np.asarray(values, dtype=np.int64), mask=np.asarray(values) < 0)
    return pc.fill_null(pc.cast(arr, pa.string()), "")


def _local_text(ts: np.ndarray, iso: bool) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS' (or with a 'T') from local seconds; Arrow's cast is far faster than strftime."""
    text = pc.cast(pa.array(np.asarray(ts).astype("datetime64[s]")), pa.string())
    return pc.replace_substring(text, " ", "T", max_replacements=1) if iso else text


def _offsets(clock: LocalClock, ts: np.ndarray) -> pa.Array:
    """'+HH:MM' / '-HH:MM' per timestamp, through the handful of distinct offsets."""
    seconds = clock.offset_seconds(ts)
    uniq, inverse = np.unique(seconds, return_inverse=True)
    texts = [f"{'+' if s >= 0 else '-'}{abs(s) // 3600:02d}:{abs(s) % 3600 // 60:02d}" for s in uniq.tolist()]
    return pc.take(pa.array(texts, type=pa.string()), pa.array(inverse))


def _hotline_lines(calls: Columns) -> pa.Array:
    outcome = pc.take(pa.array(OUTCOMES), pa.array(calls["outcome"].astype(np.int64)))
    return pc.binary_join_element_wise(
        _int_or_empty(calls["call_id"]),
        pa.array(calls["caller_phone"], type=pa.string()),
        _local_text(calls["ts"], iso=False),
        pc.cast(pa.array(calls["wait_seconds"]), pa.string()),
        pc.cast(pa.array(calls["duration_seconds"]), pa.string()),
        outcome,
        pc.binary_join_element_wise(_int_or_empty(calls["request_id"]), "\n", ""),
        ",",
    )


def _session_lines(
    events: Columns, channel: int, clock: LocalClock, emails: np.ndarray, service_codes: np.ndarray
) -> pa.Array:
    n = length(events)
    cid = events["citizen_id"]
    email = emails[np.maximum(cid, 0)]
    if channel == WEB:
        # the web log knows who logged in only by their e-mail
        login_email = _str_or_null(email, (cid < 0) | (email == ""))
        citizen = pa.array(np.full(n, "null"), type=pa.string())
        prefix = "W"
    else:
        login_email = _str_or_null(email, (cid < 0) | (email == "") | (events["event"] != 0))
        citizen = _int_or_null(cid)
        prefix = "A"
    session = pc.utf8_lpad(pc.cast(pa.array(events["session"]), pa.string()), 10, "0")
    service = _str_or_null(service_codes[np.maximum(events["service"], 0)], events["service"] < 0)
    ts = pc.binary_join_element_wise(_local_text(events["ts"], iso=True), _offsets(clock, events["ts"]), "")
    event = pc.take(pa.array(EVENTS), pa.array(events["event"].astype(np.int64)))
    return pc.binary_join_element_wise(
        '{"event_id": ',
        pc.cast(pa.array(events["event_id"]), pa.string()),
        f', "session_id": "{prefix}',
        session,
        '", "login_email": ',
        login_email,
        ', "citizen_id": ',
        citizen,
        ', "event": "',
        event,
        '", "service_code": ',
        service,
        ', "request_id": ',
        _int_or_null(events["request_id"]),
        ', "ts": "',
        ts,
        '"}\n',
        "",
    )


def _write_days(
    folder: Path,
    channel: str,
    rows: Columns,
    first_day: int,
    n_days: int,
    render: Callable[[Columns], pa.Array],
    header: bytes | None,
) -> tuple[int, int]:
    """Render rows (sorted by ts) in day-aligned chunks and write one file per day."""
    folder.mkdir(parents=True, exist_ok=True)
    day = rows["ts"] // DAY if length(rows) else np.zeros(0, dtype=np.int64)
    bounds = np.searchsorted(day, first_day + np.arange(n_days + 1))
    files = 0
    d = 0
    while d < n_days:
        # extend the chunk day by day up to the row budget (at least one day)
        e = d + 1
        while e < n_days and bounds[e + 1] - bounds[d] <= _CHUNK_ROWS:
            e += 1
        lo, hi = bounds[d], bounds[e]
        lines = render({k: v[lo:hi] for k, v in rows.items()}) if hi > lo else pa.array([], type=pa.string())
        lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2]) if len(lines) else memoryview(b"")
        for k in range(d, e):
            a, b = bounds[k] - lo, bounds[k + 1] - lo
            if a == b and header is None:
                continue
            name = drop_file_name(channel, day_date(first_day + k).isoformat())
            with open(folder / name, "wb") as fh:
                if header is not None:
                    fh.write(header)
                if b > a:
                    fh.write(data[offsets[a] : offsets[b]])
            files += 1
        d = e
    return files, int(bounds[-1] - bounds[0])


def write_drops(
    drops_dir: Path,
    calls: Columns,
    sessions: Columns,
    first_day: int,
    n_days: int,
    clock: LocalClock,
    emails: np.ndarray,
    service_codes: np.ndarray,
) -> tuple[dict[str, int], int]:
    """Write the window's drop files. Rows must carry their ids and be sorted by (ts, ord).
    Returns rows per channel and the number of files written."""
    rows: dict[str, int] = {}
    files = 0
    header = (",".join(DROP_CHANNELS["hotline"][1]) + "\n").encode()
    f, rows["hotline"] = _write_days(drops_dir / "hotline", "hotline", calls, first_day, n_days, _hotline_lines, header)
    files += f
    for channel, code in (("web", WEB), ("app", APP)):
        part = take(sessions, np.flatnonzero(sessions["channel"] == code)) if length(sessions) else sessions
        if not part:
            part = {k: np.zeros(0, dtype=np.int64) for k in ("ts",)}

        def render(rows: Columns, code: int = code) -> pa.Array:
            return _session_lines(rows, code, clock, emails, service_codes)

        f, rows[channel] = _write_days(drops_dir / channel, channel, part, first_day, n_days, render, None)
        files += f
    return rows, files


def clear_drops(drops_dir: Path) -> None:
    """Remove the drop files a simulation writes (other files in the folders are left alone)."""
    for channel, (ext, _) in DROP_CHANNELS.items():
        folder = drops_dir / channel
        if folder.is_dir():
            for path in folder.glob(f"{channel}_*.{ext}"):
                path.unlink()
