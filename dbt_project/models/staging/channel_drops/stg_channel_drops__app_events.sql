-- The events of raw.app_events that pass the hard rules, once each (int_app_events_checked); the
-- model is shared with the web channel (macro session_events_staged).
{{ session_events_staged(ref('int_app_events_checked')) }}
