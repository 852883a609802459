"""dientap — rehearsal harness for Vietnam's nationwide e-government go-live.

This package is the wiring, the top layer of the house: the ``dientap`` CLI, its
commands and the orchestration of processes (mocks, Locust master and workers,
Prometheus). It is the only code that imports several parts; it builds things
and hands them down. The kernel it stands on is the ``kernel`` package.
"""

from kernel import __version__

__all__ = ["__version__"]
