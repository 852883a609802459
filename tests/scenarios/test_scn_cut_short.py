"""A load that ended before its planned time did not complete (the gate's "run completed"
row reads it), whatever stopped it; one stopped by Locust's own --run-time did."""

from __future__ import annotations

import pytest

from scenarios.abort import cut_short_reason


@pytest.mark.parametrize(
    ("planned_s", "ran_s", "complete"),
    [
        (20, 20.3, True),  # Locust's --run-time, a little after the recorded start
        (20, 19.2, True),  # within a second of it
        (20, 18.9, False),
        (20, 7.4, False),  # the review's killed run: 7.4 s of 20
        (3600, 3540, True),  # 2 % of a long run
        (3600, 3520, False),
        (0.0001, 1.0, True),  # --run-time is at least 1 s, rounded
        (30, 0.0, False),  # never started
    ],
)
def test_a_load_that_ended_early_did_not_complete(planned_s: float, ran_s: float, complete: bool) -> None:
    reason = cut_short_reason(planned_s, ran_s)
    assert (reason is None) is complete
    if reason is not None:
        assert f"{ran_s:.1f} s of the {max(1, round(planned_s))} s planned" in reason and "did not complete" in reason
