"""The thresholds of a comparison (:class:`NoiseGuard`), apart from the comparison itself.

Apart so that ``dientap compare`` can show the defaults in its help, and the budgets file
can default its ``min_samples``, without loading the run readers behind
:mod:`reports.compare` (0.1–0.2 s of every ``dientap`` command's start-up).
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from reports._record import Record
from reports.intervals import CONFIDENCE

__all__ = ["MIN_SAMPLES", "NoiseGuard"]

#: Fewer samples than this on either side: a figure is ``not comparable`` (compare and gate).
MIN_SAMPLES: Final = 30


class NoiseGuard(Record):
    """The thresholds of a comparison; the defaults are the ones ``dientap compare`` uses.

    The latency floors were set by measurement (README "Comparing two runs"): six pairs of
    identical smoke runs on a busy 2-core machine moved a line whose intervals came apart
    by up to 7 ms and 2.3×; a 50 ms fault on a route moves it by ≥ 50 ms and many-fold.
    """

    min_samples: int = Field(default=MIN_SAMPLES, ge=1)
    min_growth: float = Field(default=1.0, ge=0)  # relative: +100 % (twice as slow)
    min_delta_ms: float = Field(default=20.0, ge=0)  # absolute, in ms
    min_error_delta: float = Field(default=0.01, ge=0, le=1)  # absolute, in error-rate points
    confidence: float = Field(default=CONFIDENCE, gt=0, lt=1)
