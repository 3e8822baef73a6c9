"""Alerts out: render events, send them through Apprise channels, drain the outbox."""
