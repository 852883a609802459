"""Print what grew between two tracemalloc snapshots of a mock (bench/leakhunt/sitecustomize.py).

    python bench/leakhunt/compare.py OLD.snapshot NEW.snapshot [--top 15] [--by traceback|lineno]
"""

from __future__ import annotations

import argparse
import tracemalloc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--by", choices=("lineno", "traceback", "filename"), default="lineno")
    args = parser.parse_args()
    old, new = tracemalloc.Snapshot.load(args.old), tracemalloc.Snapshot.load(args.new)
    print(f"traced: {sum(s.size for s in old.statistics('filename')) / 2**20:.1f} MB → "
          f"{sum(s.size for s in new.statistics('filename')) / 2**20:.1f} MB")
    for stat in new.compare_to(old, args.by)[: args.top]:
        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  (now {stat.size / 1024:.0f} KiB)")
        for line in stat.traceback.format(limit=8 if args.by == "traceback" else 1):
            print("    " + line)


if __name__ == "__main__":
    main()
