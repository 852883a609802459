"""What one drill-traffic action saw (:class:`TrafficOutcome`), and how an answer is labelled.

Apart from :mod:`drills.backends.traffic` so that the modules of its actions (the go-live
night's) can use them without importing the backend that imports them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Judge", "TrafficOutcome", "answer_label", "answered", "failed_label", "token_of"]

#: ``judge(i, status, label, response)`` of :meth:`TrafficBackend.send_documents`: whether
#: the i-th document was answered as expected, and what to record.
Judge = Callable[[int, int, str, "httpx.Response | None"], tuple[bool, str]]


@dataclass
class TrafficOutcome:
    """What one traffic action saw: how many answers were as expected, and the others by kind."""

    action: str
    sent: int = 0
    as_expected: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, dict[str, str]] = field(default_factory=dict)  # kind → {id: key}
    notes: list[str] = field(default_factory=list)
    min_success_ratio: float = 1.0
    latencies_ms: list[float] = field(default_factory=list)
    detail: dict[str, int] = field(default_factory=dict)  # figures for the report, e.g. the cut-over's province_01
    stopped_by: str | None = None  # the error that ended the action early (what it saw before is kept)

    @property
    def ok(self) -> bool:
        """Enough answers were as expected, something was sent, and no error cut the action short."""
        return self.stopped_by is None and self.sent > 0 and self.as_expected >= self.min_success_ratio * self.sent

    def summary(self) -> str:
        """One line for the journal step's output."""
        text = f"{self.action}: {self.as_expected}/{self.sent} answers as expected"
        if self.unexpected:
            text += "; unexpected: " + ", ".join(f"{k} ×{v}" for k, v in self.unexpected.most_common(5))
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            text += f"; p95 {ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]:.0f} ms"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        if self.stopped_by:
            text += f"; stopped by {self.stopped_by}"
        return text

    def record(self, expected: bool, label: str, latency_ms: float | None = None) -> None:
        """Count one answer."""
        self.sent += 1
        if expected:
            self.as_expected += 1
        else:
            self.unexpected[label] += 1
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)


def answered(call: Callable[..., httpx.Response], *args: Any, **kwargs: Any) -> tuple[httpx.Response | None, int, str]:
    """``call(*args, **kwargs)``'s answer as (the response, its status, its label); a transport
    error is no response, status 0 and the error's type (see :func:`answer_label`), not an
    exception: a drill's traffic counts an unanswered request and goes on."""
    try:
        response = call(*args, **kwargs)
    except httpx.HTTPError as exc:
        return None, *answer_label(None, exc)
    return response, *answer_label(response)


def answer_label(response: httpx.Response | None, error: Exception | None = None) -> tuple[int, str]:
    """An answer as (status, "status code"): ``422 recipient_closed``; no answer is status 0
    and the transport error's type (``ReadTimeout``)."""
    if response is None:
        return 0, type(error).__name__ if error else "no answer"
    code = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code", ""))
    except ValueError:
        pass
    return response.status_code, f"{response.status_code} {code}".strip()


def failed_label(what: str, status: int, label: str) -> str:
    """The label of a failed helper request: ``sign-in refused (401 invalid_credentials)``
    when the target answered no, ``sign-in unanswered (ConnectError)`` when it did not
    answer at all."""
    return f"{what} refused ({label})" if status else f"{what} unanswered ({label})"


def token_of(answer: tuple[httpx.Response | None, int, str], what: str) -> tuple[str | None, str]:
    """A sign-in's token, or ``None`` and the label to record (see :func:`failed_label`)."""
    response, status, label = answer
    if response is None or status != 200:
        return None, failed_label(what, status, label)
    try:
        token = response.json().get("access_token")
    except (ValueError, AttributeError):
        token = None
    return (token, "") if isinstance(token, str) and token else (None, f"{what}: no token in the answer")
