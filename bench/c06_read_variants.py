"""Serve a mock with the C06 SOAP face's request reading cut down, to find where its
speed is lost: ``bench/face_population.py --read`` starts the population service with this
instead of ``python -m mocks``. A measuring instrument only; nothing in the product uses it.

    python bench/c06_read_variants.py {parse-only|cached|timed} serve population [mocks serve options]

``parse-only``: each request's envelope is parsed by lxml with the hardened parser
(``kernel.safe_xml``'s, the same options) and the tree thrown away; the fields come from a
cache of earlier full reads of the same bytes, so the walk, the hardening checks and the
field rules cost nothing. ``cached``: not even the parse — the read is a dict look-up of the
body. Everything else (headers, signature, gate, audit, answer) runs as it always does, so
the two runs put a floor under the face with lxml's parse alone, and a ceiling on it with
the XML read free. ``timed``: the product's read, timed — once as the request reads it, then
:data:`AGAIN` times more on the same bytes within the same request — so a server's first,
cold read can be told from the same read warm; the means so far are written as JSON to the
file named by ``DIENTAP_C06_READ_TIMINGS`` when the service gets SIGUSR1. (The repeated reads
make that run's throughput meaningless: only its timings count.)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mocks.population.c06 as c06_face
from kernel.safe_xml import _parser as hardened_parser  # the very parser the face reads with
from mocks.__main__ import main as serve

VARIANTS = ("parse-only", "cached", "timed")
AGAIN = 5  # ``timed``: reads of the same bytes after the request's own
TIMINGS_ENV = "DIENTAP_C06_READ_TIMINGS"


def _time_read() -> None:
    full_read = c06_face.read_request
    sums = {"requests": 0, "first_ns": 0, "again_ns": 0}

    def read_request(data: bytes, *, allow_entities: bool = False) -> c06_face.SoapRequest:
        started = time.perf_counter_ns()
        message = full_read(data, allow_entities=allow_entities)
        first = time.perf_counter_ns() - started
        started = time.perf_counter_ns()
        for _ in range(AGAIN):
            full_read(data, allow_entities=allow_entities)
        sums["again_ns"] += (time.perf_counter_ns() - started) // AGAIN
        sums["first_ns"] += first
        sums["requests"] += 1
        return message

    def write(*_: object) -> None:
        n = max(1, sums["requests"])
        path = Path(os.environ[TIMINGS_ENV])
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({
            "requests": sums["requests"], "first_us": sums["first_ns"] / n / 1000, "again_us": sums["again_ns"] / n / 1000}))
        partial.replace(path)  # whole or absent: the bench reads it as soon as it exists

    # A signal, not atexit: the service's own stop path does not promise to run exit hooks.
    signal.signal(signal.SIGUSR1, write)
    c06_face.read_request = read_request  # the face looks it up at call time


def _cut_read(variant: str) -> None:
    if variant == "timed":
        _time_read()
        return
    full_read = c06_face.read_request
    seen: dict[bytes, c06_face.SoapRequest] = {}

    def read_request(data: bytes, *, allow_entities: bool = False) -> c06_face.SoapRequest:
        if variant == "parse-only":
            etree.fromstring(data, parser=hardened_parser(allow_entities))
        message = seen.get(data)
        if message is None:
            message = seen[data] = full_read(data, allow_entities=allow_entities)
        return message

    c06_face.read_request = read_request  # the face looks it up at call time


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"ERROR: the first argument must be one of {', '.join(VARIANTS)}")
    _cut_read(sys.argv[1])
    sys.argv = ["mocks", *sys.argv[2:]]
    serve()
