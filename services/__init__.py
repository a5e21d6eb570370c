"""Carnet's four services and their shared runtime; a service's surface is its service.py."""
