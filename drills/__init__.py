"""Fault and security drills: catalog, runner, fault backends (``drills.faultproxy``) and reconciliation."""
