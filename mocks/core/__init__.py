"""Shared core of the mock services: settings, JSON errors, request parsing, fault
injection, Prometheus metrics, tokens, SQLite helpers and the app factory."""
