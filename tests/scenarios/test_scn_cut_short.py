"""A load that ended before its planned time did not complete (the gate's "run completed"
row reads it), whatever stopped it; one stopped by Locust's own --run-time did. Time is
counted from the harness's set-up, before Locust's --run-time clock starts: a normal run's
few seconds of start-up (12 s planned, the load 10.9 s) must not count as cut short."""

from __future__ import annotations

import pytest

from scenarios.abort import cut_short_reason


@pytest.mark.parametrize(
    ("planned_s", "ran_s", "complete"),
    [
        (20, 20.3, True),  # Locust's --run-time, a little after the harness's set-up
        (20, 19.2, True),  # within a second of it
        (12, 12.05, True),  # a normal 12-s smoke run: its load itself ran 10.9 s after start-up
        (20, 18.9, False),
        (20, 7.4, False),  # the review's killed run: 7.4 s of 20
        (3600, 3540, True),  # 2 % of a long run
        (3600, 3520, False),
        (0.0001, 1.0, True),  # --run-time is at least 1 s, rounded
        (30, 0.0, False),  # never started
    ],
)
def test_a_load_that_ended_early_did_not_complete(planned_s: float, ran_s: float, complete: bool) -> None:
    reason = cut_short_reason(planned_s, ran_s, ran_s - 0.5)
    assert (reason is None) is complete
    if reason is not None:
        assert f"{ran_s - 0.5:.1f} s of the {max(1, round(planned_s))} s planned" in reason and "did not complete" in reason
