"""Command-line value types and the parser every subcommand uses.

Every bad value gets one ``ERROR:`` line that names the flag, the value and what is
accepted, before anything starts (exit 2)::

    ERROR: argument --duration: '-5' is not a duration: give seconds (90) or h/m/s (90s, 5m, 1h30m), more than 0

Durations read the way Locust's ``--run-time`` and k6's ``--duration`` do. Locust's own
parser (``locust.util.timespan``) is not used: importing anything from the ``locust``
package monkey-patches the whole process with gevent, which the CLI process must not be.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from kernel.defaults import MAX_OFFICERS_PER_COMMUNE
from kernel.errors import ExitCode

__all__ = ["CliParser", "duration", "positive_float", "non_negative_float", "fraction", "non_negative_int",
           "positive_int", "allow_host", "target", "port", "refresh_interval", "host_port", "DURATION_FORMS", "TARGET_FORMS",
           "REFRESH_BOUNDS_S"]

# ASCII digits only: Python reads "١٢" (Arabic-Indic) or "１" (full-width) as numbers, which no
# flag documents and a terminal may produce by accident.
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$", re.ASCII)
DURATION_FORMS = "seconds (90) or h/m/s (90s, 5m, 1h30m)"
TARGET_FORMS = "'embedded' or a targets YAML file naming the services' URLs (README: 'Targets and safety')"
# The live board's refresh: below half a second the board would cost the generator CPU for
# nobody's eyes; above a minute it is no longer live.
REFRESH_BOUNDS_S = (0.5, 60.0)
T = TypeVar("T", int, float)


class CliParser(argparse.ArgumentParser):
    """argparse with one ``ERROR:`` line instead of the usage block and ``prog: error:``."""

    def error(self, message: str) -> NoReturn:
        print(f"ERROR: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(ExitCode.USAGE_ERROR)


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h30m`` or ``2m30.5s``; more than 0."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None or not any(match.groupdict().values()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give {DURATION_FORMS}, more than 0")
    parts = match.groupdict()
    seconds = int(parts["h"] or 0) * 3600 + int(parts["m"] or 0) * 60 + float(parts["s"] or 0)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give {DURATION_FORMS}, more than 0")
    return seconds


def _number(text: str, parse: Callable[[str], T], ok: Callable[[T], bool], accepted: str) -> T:
    """``parse(text)`` when it gives a value ``ok`` accepts; otherwise one message naming both."""
    try:
        if not text.isascii():  # see _DURATION: int() and float() take any script's digits
            raise ValueError(text)
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}")
    return value


def positive_float(text: str) -> float:
    """A number more than 0 (``--scale``)."""
    return _number(text, float, lambda v: 0 < v < math.inf, "a finite number more than 0, e.g. 0.5 or 10")


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0 (``--min-growth``, ``--min-delta-ms``)."""
    return _number(text, float, lambda v: 0 <= v < math.inf, "a finite number, 0 or more, e.g. 0.5 or 20")


def fraction(text: str) -> float:
    """A number from 0 to 1 (``--min-error-delta``: error-rate points)."""
    return _number(text, float, lambda v: 0 <= v <= 1, "a number from 0 to 1, e.g. 0.01 for one point")


def non_negative_int(text: str) -> int:
    """A whole number ≥ 0 (``--workers``)."""
    return _number(text, int, lambda v: v >= 0, "a whole number, 0 or more")


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (``--population-size``; digit groups like 100_000 allowed)."""
    return _number(text, lambda t: int(t.replace("_", "")), lambda v: v >= 1, "a whole number, 1 or more")


def seed(text: str) -> int:
    """A whole number, any sign (``--seed``)."""
    return _number(text, lambda t: int(t.strip(), 10), lambda v: True, "a seed: give a whole number, e.g. 42")


def officer_count(text: str) -> int:
    """Officer accounts per commune, 1 to 999 (``--officers-per-commune``; the account
    names ``<commune>.officer<n>`` have at most three digits)."""
    return _number(text, int, lambda v: 1 <= v <= MAX_OFFICERS_PER_COMMUNE,
                   f"a whole number from 1 to {MAX_OFFICERS_PER_COMMUNE}")


def port(text: str) -> int:
    """A TCP port, 0 (the system picks a free one) to 65535 (``--board``)."""
    return _number(text, int, lambda v: 0 <= v <= 65535, "a port: 0 (a free one) or 1 to 65535")


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d+))?$", re.ASCII)
HOST_PORT_FORMS = "HOST or HOST:PORT (a name, an IPv4 address or [IPv6]; port 1 to 65535)"


def host_port(default_port: int) -> Callable[[str], tuple[str, int]]:
    """A ``HOST[:PORT]`` type (``--master``, ``--master-bind``) with ``default_port``."""

    def parse(text: str) -> tuple[str, int]:
        match = _HOST_PORT.match(text.strip())
        if match is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not {HOST_PORT_FORMS}")
        value = int(match["port"]) if match["port"] else default_port
        if not 1 <= value <= 65535:
            raise argparse.ArgumentTypeError(f"{text!r} is not {HOST_PORT_FORMS}")
        return (match["v6"] or match["host"], value)

    return parse


def refresh_interval(text: str) -> float:
    """Seconds between two refreshes of the live board, within :data:`REFRESH_BOUNDS_S` (``--board-refresh``)."""
    low, high = REFRESH_BOUNDS_S
    accepted = f"a refresh interval of {low:g} to {high:g} seconds, e.g. 3 or 2s"
    try:
        seconds = duration(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}") from None
    if not low <= seconds <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}")
    return seconds


def allow_host(text: str) -> str:
    """A host traffic may go to besides loopback (``--allow-host``): a name or an address."""
    from kernel.allowlist import host_problem

    problem = host_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text.strip()


def target(text: str) -> str:
    """``embedded`` or the path of a targets YAML file (a URL is neither)."""
    if text == "embedded":
        return text
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        raise argparse.ArgumentTypeError(f"{text!r} is a URL; give {TARGET_FORMS}")
    return text


def protocol(text: str) -> tuple[str, str]:
    """``SERVICE=SHAPE`` (``--protocol``): the integration shape the load speaks to one of the
    embedded mocks, e.g. ``population=c06-soap`` (kernel.targets.PROTOCOLS)."""
    from kernel.targets import PROTOCOLS

    forms = "; ".join(f"{service}={'|'.join(shapes)}" for service, shapes in PROTOCOLS.items())
    service, _, shape = text.partition("=")
    if service not in PROTOCOLS or shape not in PROTOCOLS[service]:
        raise argparse.ArgumentTypeError(f"{text!r} is not SERVICE=SHAPE; give one of {forms}")
    return service, shape
