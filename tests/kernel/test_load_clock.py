"""The run's one clock in the run directory: written atomically, read back exactly,
absent before the load starts, and a corrupt record named."""

from __future__ import annotations

import pytest

from kernel.load_clock import LOAD_START_FILE, read_load_start, write_load_start


def test_the_load_start_round_trips_exactly_and_is_absent_before_the_load_starts(tmp_path) -> None:
    assert read_load_start(tmp_path) is None
    at = 1_780_000_000.123456
    path = write_load_start(tmp_path / "run", at)
    assert path.name == LOAD_START_FILE and read_load_start(tmp_path / "run") == at
    assert [p.name for p in (tmp_path / "run").iterdir()] == [LOAD_START_FILE]  # no partial file left


@pytest.mark.parametrize("content", ['{"started_at": "soon"}', '{"started_at": true}', "[1]"])
def test_a_corrupt_load_start_is_refused_naming_the_file(tmp_path, content) -> None:
    (tmp_path / LOAD_START_FILE).write_text(content)
    with pytest.raises(ValueError, match=f"{LOAD_START_FILE}: 'started_at' must be epoch seconds"):
        read_load_start(tmp_path)
