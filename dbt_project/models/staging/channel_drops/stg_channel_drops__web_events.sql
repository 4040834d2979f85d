-- The events of raw.web_events that pass the hard rules, once each (int_web_events_checked); the
-- model is shared with the app channel (macro session_events_staged).
{{ session_events_staged(ref('int_web_events_checked')) }}
