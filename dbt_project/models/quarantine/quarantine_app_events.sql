-- Rows of raw.app_events that failed a hard rule of int_app_events_checked, with the rule, so
-- raw.app_events = stg + quarantine, row for row. Rebuilt on every run: a row fixed at the source
-- leaves quarantine on the next run. Shared with the web channel (macro session_events_quarantined).
{{ config(alias='app_events') }}
{{ session_events_quarantined(ref('int_app_events_checked')) }}
