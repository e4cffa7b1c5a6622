"""Alternated rounds, the way every benchmark here takes its figures.

Each round runs every side once, in turn, the order reversed every other round, so
each side sees the same load. A figure is the median over rounds: of a side's
seconds, or of the per-round ratio of two sides. The load average is taken at the
start of each round and reported with the figures.

    rounds = alternate({"floor": run_floor, "ours": run_ours}, repeat=5)
    rounds.ratio("ours", "floor"), rounds.loads

A side is a function that runs once and returns a dict with at least "seconds".
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xl_pmpm.cli import QUIET_LIBRARIES

Side = Callable[[], dict]

# The physical limit of reading and writing CSV bytes: Arrow's reader and writer, no
# rules. Run as its own process: `python -c ARROW_LIMIT OUT SRC [SRC ...]`.
ARROW_LIMIT = (
    "import sys, pyarrow.csv as c\n"
    "for i, src in enumerate(sys.argv[2:]):\n"
    "    c.write_csv(c.read_csv(src), f'{sys.argv[1]}.{i}.csv')\n"
)


def quiet(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a baseline's process, with the library settings `xl-pmpm` gives its own
    (`xl_pmpm.cli.QUIET_LIBRARIES`: no idle BLAS threads spinning at numpy's import), where
    `env` sets none: a baseline is not slowed by a cost the program avoids."""
    return {**QUIET_LIBRARIES, **env}


@dataclass
class Rounds:
    """Every side's runs, in round order, and the load average at each round's start."""

    runs: dict[str, list[dict]]
    loads: list[float] = field(default_factory=list)

    def median(self, side: str, key: str = "seconds") -> float:
        return statistics.median(run[key] for run in self.runs[side])

    def ratio(self, side: str, base: str, key: str = "seconds") -> float:
        """The median of the per-round ratios side / base (a pair shares its load)."""
        pairs = zip(self.runs[side], self.runs[base], strict=True)
        return statistics.median(a[key] / b[key] for a, b in pairs)

    def peak(self, side: str, key: str = "peak_mib") -> float:
        return max(run[key] for run in self.runs[side])

    def load(self) -> str:
        return f"{min(self.loads):.1f}-{max(self.loads):.1f}"


def alternate(sides: Mapping[str, Side], repeat: int) -> Rounds:
    """Run each side once per round for `repeat` rounds, alternating the order."""
    if repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    rounds = Rounds({name: [] for name in sides})
    order = list(sides)
    for i in range(repeat):
        rounds.loads.append(round(os.getloadavg()[0], 2))
        for name in order if i % 2 == 0 else reversed(order):
            rounds.runs[name].append(sides[name]())
    return rounds


def timed(fn: Callable[[], object]) -> dict:
    """Run `fn` in this process: {"seconds"}."""
    t = time.perf_counter()
    fn()
    return {"seconds": time.perf_counter() - t}


def arrow_limit(out: Path, *sources: Path) -> dict:
    """Seconds and peak (MiB, VmHWM) of Arrow reading and writing `sources`, a fresh process."""
    code = ARROW_LIMIT + (
        "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') "
        "if x.startswith('VmHWM'))\n"
        "print(hwm / 1024)\n"
    )
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), *map(str, sources)],
        capture_output=True,
        text=True,
        check=True,
        env=quiet(os.environ),
    )
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "peak_mib": float(done.stdout.split()[-1])}
