"""Fault and security drills: catalog, runner (with its fault timeline, rollback and verdict),
fault backends (``drills.faultproxy``) and reconciliation."""
