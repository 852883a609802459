"""dientap scenarios: the load model the Locust personas stand on.

Public API (phase 1 — load-model infrastructure; personas and ``locustfile.py`` build on it).
The HDR histogram every part shares is in the kernel: :mod:`kernel.hdr`.

* ``scenarios.latency``      — :class:`LatencyRecorder` (HDR per service/endpoint/province/measure,
  per-second series, per-commune counters), :func:`request_context`
* ``kernel.latency_records`` — :class:`HistogramKey`, :func:`load_histograms` (the recorder's
  histogram keys and file format); ``scenarios.recorder_delta`` — :class:`RecorderDelta`
* ``scenarios.distributed``  — :func:`attach_recorder` (worker → master exact merge)
* ``scenarios.arrival_plan`` — :class:`RateCurve`, :class:`CommuneRate`, :class:`ArrivalPlan`,
  :class:`Arrival` (the open-model schedule: per-commune Poisson arrivals)
* ``scenarios.arrivals``     — :class:`ArrivalScheduler`, :func:`attach_arrivals`
  (the schedule walked in real time, intended start times)
* ``scenarios.lag``          — :class:`LagMonitor`, :func:`assess`, :func:`generator_health`
* ``scenarios.gc_tuning``    — :class:`GcMonitor`, :func:`attach_gc_tuning`
* ``scenarios.connections``  — :func:`install_keepalive_fix`, :class:`OfficePools`
* ``scenarios.abort``        — :class:`AbortLimits`, :class:`AbortEvaluator`, :class:`AbortMonitor`
"""

# Nothing here imports locust at module level: importing locust monkey-patches the
# standard library, which must not happen as a side effect of importing this package
# (e.g. inside pytest, where ssl is already imported). The locustfile imports locust
# first, as Locust requires; attach_* functions import locust lazily.
from kernel.latency_records import HistogramKey, load_histograms
from scenarios.abort import AbortDecision, AbortEvaluator, AbortLimits, AbortMonitor, SecondStats
from scenarios.arrival_plan import Arrival, ArrivalPlan, CommuneRate, RateCurve
from scenarios.arrivals import ArrivalScheduler, ArrivalStats, attach_arrivals
from scenarios.connections import OfficePools, install_keepalive_fix
from scenarios.distributed import LatencyShipping, attach_recorder
from scenarios.gc_tuning import GcMonitor, GcStats, attach_gc_tuning, freeze_long_lived
from scenarios.lag import GeneratorSnapshot, LagMonitor, Trust, TrustLimits, assess, generator_health
from scenarios.latency import LatencyRecorder, request_context
from scenarios.recorder_delta import RecorderDelta

__all__ = [
    "AbortDecision",
    "AbortEvaluator",
    "AbortLimits",
    "AbortMonitor",
    "Arrival",
    "ArrivalPlan",
    "ArrivalScheduler",
    "ArrivalStats",
    "CommuneRate",
    "GcMonitor",
    "GcStats",
    "GeneratorSnapshot",
    "HistogramKey",
    "LagMonitor",
    "LatencyRecorder",
    "LatencyShipping",
    "OfficePools",
    "RateCurve",
    "RecorderDelta",
    "SecondStats",
    "Trust",
    "TrustLimits",
    "assess",
    "attach_arrivals",
    "attach_gc_tuning",
    "attach_recorder",
    "freeze_long_lived",
    "generator_health",
    "install_keepalive_fix",
    "load_histograms",
    "request_context",
]
