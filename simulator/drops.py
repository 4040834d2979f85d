"""The channel file-drop contract: folder layout, file names and the columns of each channel.

One file per channel per day, under `<data>/drops/<channel>/<channel>_<YYYY-MM-DD>.<ext>`.
"""

from __future__ import annotations

# channel -> (file extension, ordered columns). Hotline times are city-local without a zone,
# as the telephony system exports them; web and app timestamps are ISO 8601 with an offset.
DROP_CHANNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hotline": (
        "csv",
        (
            "call_id",  # unique per call
            "caller_phone",  # as the switch saw it: formats vary, may be withheld (empty)
            "call_start",  # 'YYYY-MM-DD HH:MM:SS', city-local time
            "wait_seconds",
            "duration_seconds",
            "outcome",  # answered | request_created | transferred | abandoned
            "request_id",  # case-system request created or discussed on the call, else empty
        ),
    ),
    "web": (
        "jsonl",
        (
            "event_id",
            "session_id",
            "login_email",  # null for anonymous browsing
            "citizen_id",  # null on web; the app logs citizen ids
            "event",  # login | view_service | submit_request | check_status | logout
            "service_code",
            "request_id",
            "ts",  # ISO 8601 with offset
        ),
    ),
    "app": (
        "jsonl",
        (
            "event_id",
            "session_id",
            "login_email",
            "citizen_id",
            "event",
            "service_code",
            "request_id",
            "ts",
        ),
    ),
}

# raw table per channel
DROP_TABLES: dict[str, str] = {"hotline": "hotline_calls", "web": "web_events", "app": "app_events"}


def drop_file_name(channel: str, day: str) -> str:
    ext = DROP_CHANNELS[channel][0]
    return f"{channel}_{day}.{ext}"
