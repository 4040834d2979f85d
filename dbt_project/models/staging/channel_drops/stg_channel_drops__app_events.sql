-- The events of raw.app_events that pass the hard rules, once each
-- (base_channel_drops__app_events); the model is shared with the web channel (macro
-- session_events_staged).
{{ session_events_staged(ref('base_channel_drops__app_events')) }}
