-- Rows of raw.app_events that failed a hard rule of base_channel_drops__app_events, with the rule,
-- so raw.app_events = stg + quarantine, row for row. A view of the incremental gate (a verdict
-- stays until a later delivery of the same event re-judges it). Shared with the web channel (macro
-- session_events_quarantined).
{{ config(alias='app_events', materialized='view') }}
{{ session_events_quarantined(ref('base_channel_drops__app_events')) }}
