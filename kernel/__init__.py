"""The kernel: the bottom layer of dientap, which every part may import.

Errors, config files, the target allowlist, the 2025 roster, personal IDs,
credentials, PKI, edXML, synthetic citizens, and the contracts several parts
share: the fault-API model (``fault_api``), latency bucket edges
(``latency_buckets``), HDR histograms (``hdr``), the run defaults
(``defaults``), the stop protocol (``stopping``), the run provenance
(``provenance``) and text made safe for a terminal (``terminal_text``).

The kernel imports no part (``mocks``, ``scenarios``, ``drills``, ``metrics``,
``reports``) and none of the wiring (``dientap``); ``lint-imports`` holds it to that.
"""

__version__ = "0.1.0"
