-- Rows of raw.web_events that failed a hard rule of int_web_events_checked, with the rule, so
-- raw.web_events = stg + quarantine, row for row. Rebuilt on every run: a row fixed at the source
-- leaves quarantine on the next run. Shared with the app channel (macro session_events_quarantined).
{{ config(alias='web_events') }}
{{ session_events_quarantined(ref('int_web_events_checked')) }}
