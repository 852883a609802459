"""The base of every run-directory record (private: import records from reports.journal)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Record"]


class Record(BaseModel):
    """Base of every run-directory record: unknown keys are errors (typos do not pass)."""

    model_config = ConfigDict(extra="forbid")
