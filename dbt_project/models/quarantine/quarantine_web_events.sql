-- Rows of raw.web_events that failed a hard rule of base_channel_drops__web_events, with the rule,
-- so raw.web_events = stg + quarantine, row for row. A view of the incremental gate (a verdict
-- stays until a later delivery of the same event re-judges it). Shared with the app channel (macro
-- session_events_quarantined).
{{ config(alias='web_events', materialized='view') }}
{{ session_events_quarantined(ref('base_channel_drops__web_events')) }}
