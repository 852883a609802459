"""The base of every run-directory record and the value types records share (private:
import records from the module that defines them, e.g. :mod:`reports.journal`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Record", "DetailValue", "Verdict"]

#: A value of a free-form ``detail`` mapping (journal events, fault windows).
DetailValue = str | int | float | bool | None
#: The outcome of a drill or of a security check.
Verdict = Literal["PASS", "FAIL", "ERROR"]


class Record(BaseModel):
    """Base of every run-directory record: unknown keys are errors (typos do not pass)."""

    model_config = ConfigDict(extra="forbid")
