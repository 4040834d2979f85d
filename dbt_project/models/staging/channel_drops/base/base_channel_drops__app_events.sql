-- Gate for raw.app_events; the logic is shared with the web (macro session_events_checked).
{{ session_events_checked(source('channel_drops', 'app_events'), 'app') }}
