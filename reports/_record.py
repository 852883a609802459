"""The base of every run-directory record and the value types records share (private:
import records from the module that defines them, e.g. :mod:`reports.journal`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Record", "DetailValue", "Verdict", "MAX_COUNT", "Count", "Millis", "MAX_OFFSET_S", "Offset", "check_parts"]

#: A value of a free-form ``detail`` mapping (journal events, fault windows).
DetailValue = str | int | float | bool | None
#: The outcome of a drill or of a security check.
Verdict = Literal["PASS", "FAIL", "ERROR"]

#: The largest count a record may hold. Every whole number up to 2⁵³ is exact as a float, so
#: a rate of two counts stays a finite number (a count of 4,000 digits made the gate's
#: division overflow); no run comes near it (10,000 requests/s for a year is 3·10¹¹).
MAX_COUNT = 2**53
#: How many of something a run recorded: requests, failures, samples.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: A latency in milliseconds: never negative (a negative p95 would pass every budget).
Millis = Annotated[float, Field(ge=0)]
#: The farthest from its run's start a record may place anything: about 31 years either way. A
#: chart's time axis adds, subtracts and divides these, and an offset of 1e308 (finite, so not
#: refused as an infinity) made matplotlib raise instead of drawing the report.
MAX_OFFSET_S = 1e9
#: Seconds since the run's start (negative: before it).
Offset = Annotated[float, Field(ge=-MAX_OFFSET_S, le=MAX_OFFSET_S)]


class Record(BaseModel):
    """Base of every run-directory record: unknown keys are errors (typos do not pass), and
    so are NaN and infinities (``NaN``, ``Infinity``, ``1e400`` in the JSON): a NaN p95 is
    neither above nor below a limit, an infinite rate no figure at all."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def check_parts(whole_name: str, whole: int, **parts: int) -> None:
    """Refuse counts whose parts exceed their whole: every failed or throttled request is one
    of the requests (the recorder counts each once, and never as both), so more of them than
    requests is a damaged record, whose error rate would read above 100 %."""
    if sum(parts.values()) > whole:
        named = " + ".join(f"{name} {count:,}" for name, count in parts.items())
        raise ValueError(f"{named} is more than {whole_name} {whole:,}; they are counted among the {whole_name}")
