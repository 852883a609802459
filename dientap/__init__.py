"""dientap — rehearsal harness for Vietnam's nationwide e-government go-live.

The ``dientap`` package is the CLI, the process orchestration and a small kernel
(errors, config loading, target allowlist, roster and identifier rules) that every
other part of the project may import. The kernel imports nothing from the parts.
"""

__version__ = "0.1.0"
