"""What each validated table promises: keys, required columns, timestamps, value sets, thresholds.

The one place to adjust column names. Raw tables follow the source contracts (`simulator.schema`
for the case system, `simulator.drops` for the channel drops; a test keeps them in step). The marts
are being written as this is: their column names below are the agreed draft, adjust them here
when the marts land.
"""

from __future__ import annotations

from quality.specs import AssetKey, DriftSpec, Membership, Ordering, Parent, Range, TableSpec, VolumeSpec
from simulator.drops import DROP_CHANNELS
from simulator.schema import CHANNELS, PRIORITIES, REQUEST_TYPES, STATUSES

SCORE_MIN, SCORE_MAX = 1, 5

# Raw UTC timestamps shown as city-local naive time, for daily counts that follow the city's days.
_UTC_TO_LOCAL = "(({col}) AT TIME ZONE 'UTC') AT TIME ZONE '{{tz}}'"

_SERVICE_CODES = "SELECT service_code FROM raw.services"
_DISTRICT_CODES = "SELECT district_id FROM raw.districts"
_DEPARTMENT_CODES = "SELECT department_id FROM raw.departments"
_WEB_EVENTS = ("login", "view_service", "submit_request", "check_status", "logout")
_CALL_OUTCOMES = ("answered", "request_created", "transferred", "abandoned")

RAW_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "raw",
        "departments",
        key=("department_id",),
        required=("name", "updated_at"),
        timestamps=("updated_at",),
    ),
    TableSpec(
        "raw",
        "districts",
        key=("district_id",),
        required=("name", "population", "updated_at"),
        timestamps=("updated_at",),
        ranges=(Range("counts_non_negative", "population", 0),),
    ),
    TableSpec(
        "raw",
        "services",
        key=("service_code",),
        required=("name", "category", "department_id", "commitment_hours", "updated_at"),
        timestamps=("updated_at",),
        ranges=(Range("durations_non_negative", "commitment_hours", 0),),
        memberships=(Membership("department_codes_known", "department_id", values_sql=_DEPARTMENT_CODES),),
    ),
    TableSpec(
        "raw",
        "citizens",
        key=("citizen_id",),
        required=("kind", "consent_analytics", "created_at", "updated_at"),
        timestamps=("created_at", "updated_at"),
        orderings=(Ordering("updated_not_before_created", "updated_at", "created_at"),),
        memberships=(
            Membership("district_codes_known", "district_id", values_sql=_DISTRICT_CODES),
            Membership("categorical_values_known", "kind", values=("resident", "business")),
            Membership("categorical_values_known", "company_size", values=("micro", "small", "medium", "large")),
        ),
        # Contact columns are fetched redacted (null or not), never in clear text: see quality.pii.
        null_share_max={"district_id": 0.2, "phone": 0.6, "email": 0.7},
    ),
    TableSpec(
        "raw",
        "service_requests",
        key=("request_id",),
        required=("channel", "request_type", "status", "priority", "submitted_at", "updated_at"),
        timestamps=("submitted_at", "updated_at", "closed_at"),
        start_bounded=("submitted_at", "closed_at"),
        orderings=(Ordering("closed_not_before_submitted", "closed_at", "submitted_at"),),
        memberships=(
            Membership("service_codes_known", "service_code", values_sql=_SERVICE_CODES),
            Membership("district_codes_known", "district_id", values_sql=_DISTRICT_CODES),
            Membership("channel_codes_known", "channel", values=CHANNELS),
            Membership("categorical_values_known", "request_type", values=REQUEST_TYPES),
            Membership("categorical_values_known", "status", values=STATUSES),
            Membership("categorical_values_known", "priority", values=PRIORITIES),
        ),
        null_share_max={"citizen_id": 0.6, "service_code": 0.05, "district_id": 0.2},
        volume=VolumeSpec(_UTC_TO_LOCAL.format(col="submitted_at"), "channel"),
    ),
    TableSpec(
        "raw",
        "request_events",
        key=("event_id",),
        required=("request_id", "event_type", "event_at", "updated_at"),
        timestamps=("event_at", "updated_at"),
        start_bounded=("event_at",),
        memberships=(
            Membership("department_codes_known", "department_id", values_sql=_DEPARTMENT_CODES),
            Membership("categorical_values_known", "event_type", values=STATUSES),
        ),
        parents=(Parent("request_ids_known", "request_id", "raw.service_requests", "request_id"),),
        null_share_max={"department_id": 0.5},
    ),
    TableSpec(
        "raw",
        "satisfaction_surveys",
        key=("survey_id",),
        required=("request_id", "score", "submitted_at", "updated_at"),
        timestamps=("submitted_at", "updated_at"),
        start_bounded=("submitted_at",),
        ranges=(Range("scores_in_range", "score", SCORE_MIN, SCORE_MAX),),
        parents=(Parent("request_ids_known", "request_id", "raw.service_requests", "request_id"),),
        null_share_max={"citizen_id": 0.6},
        drift=DriftSpec("score", "submitted_at"),
    ),
    # Channel drops: every data column is text as delivered; timestamps and numbers are parsed here
    # the way staging will, so a value staging would quarantine shows up before it gets there.
    TableSpec(
        "raw",
        "hotline_calls",
        key=("call_id",),
        columns=DROP_CHANNELS["hotline"][1],
        required=("call_start", "outcome"),
        text_timestamps={"call_start": "local"},
        text_numbers=("wait_seconds", "duration_seconds"),
        timestamps=("call_start__utc",),
        start_bounded=("call_start__utc",),
        ranges=(
            Range("durations_non_negative", "wait_seconds__num", 0),
            Range("durations_non_negative", "duration_seconds__num", 0),
        ),
        memberships=(Membership("categorical_values_known", "outcome", values=_CALL_OUTCOMES),),
        null_share_max={"caller_phone": 0.5, "wait_seconds": 0.05, "duration_seconds": 0.05},
        volume=VolumeSpec("try_strptime(call_start, '%Y-%m-%d %H:%M:%S')", "'hotline'"),
    ),
    *(
        TableSpec(
            "raw",
            table,
            key=("event_id",),
            columns=DROP_CHANNELS[channel][1],
            required=("session_id", "event", "ts"),
            text_timestamps={"ts": "offset"},
            timestamps=("ts__utc",),
            start_bounded=("ts__utc",),
            memberships=(
                Membership("service_codes_known", "service_code", values_sql=_SERVICE_CODES),
                Membership("categorical_values_known", "event", values=_WEB_EVENTS),
            ),
            volume=VolumeSpec("try_cast(ts AS TIMESTAMPTZ) AT TIME ZONE '{tz}'", f"'{channel}'"),
        )
        for channel, table in (("web", "web_events"), ("app", "app_events"))
    ),
)

# --- marts: column names as in dbt_project/models/marts; adjust here when the marts change ---------
# Fact keys are md5 surrogate keys; a code that matched no dimension row gets the unknown member
# '-1' (macro key_or_unknown), so "known" means a real dimension row, not the unknown member. Where a
# raw code may legitimately be null (district, service) the share that must be known is relaxed to
# the raw null-share thresholds.
_UNKNOWN = "'-1'"
_CHANNEL_KEYS = f"SELECT channel_key FROM marts.dim_channel WHERE channel_key <> {_UNKNOWN}"
_SERVICE_KEYS = f"SELECT service_key FROM marts.dim_service WHERE service_key <> {_UNKNOWN}"
_DISTRICT_KEYS = f"SELECT district_key FROM marts.dim_district WHERE district_key <> {_UNKNOWN}"
# Daily volume labelled by channel name rather than an md5 key, so a person can read the alert.
_CHANNEL_NAME = (
    "coalesce((SELECT d.channel FROM marts.dim_channel d WHERE d.channel_key = {table}.channel_key), "
    "{table}.channel_key)"
)

MART_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "marts",
        "fct_service_requests",
        # Open-data requests have no case-system request_id: the source's own id identifies them.
        key=("source_system", "source_request_id"),
        required=("service_request_key", "source_system", "submitted_at", "channel_key", "service_key", "district_key"),
        local_time=True,
        timestamps=("submitted_at", "first_response_at", "resolved_at", "closed_at"),
        start_bounded=("submitted_at",),
        orderings=(
            Ordering("closed_not_before_submitted", "closed_at", "submitted_at"),
            Ordering("lifecycle_not_before_submitted", "first_response_at", "submitted_at"),
            Ordering("lifecycle_not_before_submitted", "resolved_at", "submitted_at"),
        ),
        ranges=(
            Range("durations_non_negative", "first_response_hours", 0),
            Range("durations_non_negative", "resolution_hours", 0),
            Range("durations_non_negative", "closure_hours", 0),
            Range("counts_non_negative", "reopen_count", 0),
            Range("scores_in_range", "survey_score", SCORE_MIN, SCORE_MAX),
        ),
        memberships=(
            Membership("channel_keys_known", "channel_key", values_sql=_CHANNEL_KEYS),
            Membership("service_keys_known", "service_key", values_sql=_SERVICE_KEYS, mostly=0.95),
            Membership("district_keys_known", "district_key", values_sql=_DISTRICT_KEYS, mostly=0.8),
            Membership("categorical_values_known", "request_type", values=REQUEST_TYPES),
            Membership("categorical_values_known", "status", values=STATUSES),
            Membership("categorical_values_known", "priority", values=PRIORITIES),
        ),
        null_share_max={"citizen_id": 0.6},
        volume=VolumeSpec("submitted_at", _CHANNEL_NAME.format(table="fct_service_requests")),
    ),
    TableSpec(
        "marts",
        "fct_satisfaction",
        key=("survey_id",),
        required=("survey_key", "score", "submitted_at", "channel_key"),
        local_time=True,
        timestamps=("submitted_at",),
        start_bounded=("submitted_at",),
        ranges=(Range("scores_in_range", "score", SCORE_MIN, SCORE_MAX),),
        memberships=(Membership("channel_keys_known", "channel_key", values_sql=_CHANNEL_KEYS),),
        drift=DriftSpec("score", "submitted_at"),
    ),
    TableSpec(
        "marts",
        "fct_contacts",
        key=("contact_id",),
        required=("contact_key", "channel", "contacted_at", "channel_key"),
        local_time=True,
        timestamps=("contacted_at",),
        start_bounded=("contacted_at",),
        ranges=(
            Range("durations_non_negative", "wait_seconds", 0),
            Range("durations_non_negative", "duration_seconds", 0),
        ),
        memberships=(
            Membership("channel_codes_known", "channel", values=CHANNELS),
            Membership("channel_keys_known", "channel_key", values_sql=_CHANNEL_KEYS),
        ),
        volume=VolumeSpec("contacted_at", "channel"),
    ),
    TableSpec(
        "marts",
        "mart_service_performance_daily",
        key=("date_key", "service_key", "district_key"),
        required=("date_day", "requests_received"),
        local_time=True,
        timestamps=("date_day",),
        start_bounded=("date_day",),
        ranges=(
            Range("counts_non_negative", "requests_received", 0),
            Range("counts_non_negative", "requests_closed", 0),
            Range("counts_non_negative", "requests_resolved", 0),
            Range("counts_non_negative", "backlog_end_of_day", 0),
            Range("durations_non_negative", "median_resolution_hours", 0),
            Range("durations_non_negative", "p90_resolution_hours", 0),
            Range("shares_between_0_and_1", "share_within_commitment", 0, 1),
        ),
        memberships=(
            Membership("service_keys_known", "service_key", values_sql=_SERVICE_KEYS, mostly=0.95),
            Membership("district_keys_known", "district_key", values_sql=_DISTRICT_KEYS, mostly=0.8),
        ),
    ),
)

TABLES: dict[AssetKey, TableSpec] = {t.asset: t for t in (*RAW_TABLES, *MART_TABLES)}
