"""watcher: a change-monitoring and alerting daemon for live coverage."""

__version__ = "0.1.0"
