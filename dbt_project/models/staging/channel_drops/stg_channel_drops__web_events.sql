-- The events of raw.web_events that pass the hard rules, once each
-- (base_channel_drops__web_events); the model is shared with the app channel (macro
-- session_events_staged).
{{ session_events_staged(ref('base_channel_drops__web_events')) }}
