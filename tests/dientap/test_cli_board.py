"""The live board's port is bound before anything starts: a port in use is one ``ERROR:``
line naming the flag, exit 2, and no process, mock or run directory — seen by the audit hook
of ``run_audited`` (tests/dientap/conftest.py), not assumed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from kernel.errors import ExitCode


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("command", [["run", "smoke"], ["drill", "population-outage"]], ids=["run", "drill"])
def test_a_board_port_in_use_is_refused_before_anything_starts(run_audited, taken_port, tmp_path, command):
    (run,) = run_audited([[*command, "--board", str(taken_port), "--out", "runs"]], cwd=tmp_path)
    lines = run.err.strip().splitlines()
    assert run.code == ExitCode.USAGE_ERROR, run
    assert lines == [f"ERROR: argument --board: port {taken_port} on 127.0.0.1 is in use; "
                     "give a port from 1024 to 65535, or 0 for a free one"]
    assert run.out == ""
    assert run.events == ["socket.bind"], "only the board's own bind may have been tried"
    assert run.files == [], "a run directory (or anything else) was created"


def test_the_board_flags_start_from_the_shared_defaults_and_reach_the_run():
    from dientap.cli import build_parser
    from dientap.commands.run_cmd import options_from_args
    from dientap.orchestration.dryrun import DryRunOptions
    from kernel.defaults import BOARD_PORT, BOARD_REFRESH_S
    from metrics.board import BoardFeed

    parser = build_parser()
    for command in (["run"], ["drill", "population-outage"]):
        args = parser.parse_args(command)
        assert (args.board, args.board_refresh, args.no_board) == (BOARD_PORT.default, BOARD_REFRESH_S.default, False)
        options = options_from_args(args, "smoke")
        assert (options.board_port, options.board_refresh_s) == (BOARD_PORT.default, BOARD_REFRESH_S.default)
    chosen = options_from_args(parser.parse_args(["run", "--board", "8089", "--board-refresh", "1.5s"]), "smoke")
    assert (chosen.board_port, chosen.board_refresh_s) == (8089, 1.5)
    assert options_from_args(parser.parse_args(["run", "--no-board"]), "smoke").board_port is None
    # security runs under load with no board; nor does a DryRun built as a library unless asked
    assert options_from_args(parser.parse_args(["security"]), "smoke").board_port is None
    assert (DryRunOptions().board_port, DryRunOptions().board_refresh_s) == (None, BOARD_REFRESH_S.default)
    assert BoardFeed(run_id="r", profile="p", command="run", duration_s=1).refresh_s == BOARD_REFRESH_S.default
