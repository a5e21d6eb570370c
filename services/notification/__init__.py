"""The notification service: its entrypoints live in service.py, its config in config.yaml."""
