"""What the master's role dealing costs at national size, against the scan it replaced,
both measured in the same run.

    python bench/dealing.py [--count 26568] [--repeat 3]

The master deals every officer and agency of a distributed run a run-wide index
(:class:`scenarios.index_book.IndexBook`). It used to find the lowest free index by scanning
from 0, so dealing national's 26,568 officers (8 per commune × 3,321) took quadratic time on
the master's one message loop; it now keeps a heap of freed indices and a counter for the
next never-dealt one. Reported: seconds to deal ``--count`` indices each way (best of
``--repeat``), their ratio, and the cost per index at 1/10 of the count and at the count —
about equal when dealing is linear.
"""

from __future__ import annotations

import argparse
import itertools
import time

from scenarios.index_book import IndexBook


def _scan_dealing(count: int) -> float:
    """The replaced way: the lowest index not in use, found by a scan from 0."""
    taken: set[int] = set()
    started = time.perf_counter()
    for _ in range(count):
        index = next(i for i in itertools.count() if i not in taken)
        taken.add(index)
    return time.perf_counter() - started


def _book_dealing(count: int, workers: int = 4) -> float:
    book = IndexBook()
    started = time.perf_counter()
    for index in range(count):
        book.take("officer", f"worker-{index % workers}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=26_568, help="indices to deal (default: national officers)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    book = min(_book_dealing(args.count) for _ in range(args.repeat))
    scan = min(_scan_dealing(args.count) for _ in range(args.repeat))
    tenth = min(_book_dealing(args.count // 10) for _ in range(args.repeat))
    print(f"deal {args.count:,} indices: scan {scan:.2f} s, book {book:.3f} s = {scan / book:,.0f}x faster")
    print(f"book per index: {tenth / (args.count // 10) * 1e6:.2f} µs at {args.count // 10:,}, "
          f"{book / args.count * 1e6:.2f} µs at {args.count:,}")


if __name__ == "__main__":
    main()
