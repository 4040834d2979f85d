-- Gate for raw.web_events; the logic is shared with the app (macro session_events_checked).
{{ session_events_checked(source('channel_drops', 'web_events'), 'web') }}
