"""What a ``dientap`` command costs before it does anything, and what ``make install`` costs,
each against a baseline measured in the same run.

    python bench/startup.py [--repeat 15] [--install]

1. **Command start-up** (median of ``--repeat`` fresh processes each): a refused flag
   (``dientap run smoke --duration abc``, exit 2) and ``dientap --version``, against the bare
   interpreter (``python -c pass``) and against what every command loaded to parse its flags
   before the commands' parts were imported lazily: matplotlib, the dry run (mock cluster,
   httpx, the board) and the run readers behind ``reports.compare``, then the parser.
2. **Install** (``--install``; reaches PyPI, about 2 minutes): ``make install``'s way — uv
   with ``--compile-bytecode`` — against ``pip install`` of the same ``.[test]`` into a fresh
   venv, one each. Both compile bytecode, as these machines set PYTHONDONTWRITEBYTECODE=1.
   uv starts from an empty cache of its own (as on a fresh CI machine); pip keeps none here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess  # fixed argument lists of this interpreter and of pip/uv  # nosec B404
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_PARSE_TIME_IMPORTS = ("import matplotlib.figure, dientap.orchestration.dryrun, reports.compare; "
                          "from dientap.cli import build_parser; build_parser()")


def _median_s(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)  # nosec B603
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def startup(repeat: int) -> None:
    py = sys.executable
    cases = {
        "bare interpreter (python -c pass)": [py, "-c", "pass"],
        "before: what every command loaded to parse its flags": [py, "-c", OLD_PARSE_TIME_IMPORTS],
        "dientap --version": [py, "-m", "dientap.cli", "--version"],
        "dientap run smoke --duration abc (refused, exit 2)": [py, "-m", "dientap.cli", "run", "smoke", "--duration", "abc"],
    }
    measured = {name: _median_s(argv, repeat) for name, argv in cases.items()}
    bare = measured["bare interpreter (python -c pass)"]
    before = measured["before: what every command loaded to parse its flags"]
    print(f"command start-up, median of {repeat} fresh processes:")
    for name, seconds in measured.items():
        print(f"  {name:<58} {seconds:6.3f} s   {seconds / bare:5.1f}× bare   {seconds / before:4.2f}× before")


def install() -> None:
    with tempfile.TemporaryDirectory(prefix="dientap-install-") as tmp:
        figures = {}
        for way in ("pip", "uv"):
            venv = Path(tmp) / way
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # nosec B603
            began = time.perf_counter()
            if way == "pip":
                subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-e", ".[test]"], cwd=ROOT,  # nosec B603
                               check=True)
            else:
                subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "uv>=0.5"], check=True)  # nosec B603
                subprocess.run([str(venv / "bin" / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),  # nosec B603
                                "--quiet", "--compile-bytecode", "-e", ".[test]"], cwd=ROOT, check=True,
                               env={**os.environ, "UV_CACHE_DIR": str(Path(tmp) / "uv-cache")})
            figures[way] = time.perf_counter() - began
            shutil.rmtree(venv)
    print(f"install of .[test] into a fresh venv: pip {figures['pip']:.1f} s, uv (its own install included, "
          f"empty cache) "
          f"{figures['uv']:.1f} s: {figures['pip'] / figures['uv']:.1f}× faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--install", action="store_true", help="also time the install (reaches PyPI)")
    args = parser.parse_args()
    startup(args.repeat)
    if args.install:
        install()


if __name__ == "__main__":
    main()
