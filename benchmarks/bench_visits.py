"""Visits file -> tier report, as a ratio to a bare `pandas.read_csv` of the same file.

Generates a month of visits (vectorized numpy; invented data, about 30 visits per
member, 2 % of visits outside the month), writes it to a CSV in a temp folder,
then times `read_visits` + `aggregate_visits` against `pandas.read_csv(path)`
(default options), best of `--repeat` each, in the same run.

    python benchmarks/bench_visits.py [--visits 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from xl_pmpm.core.sample import AGENCY_ID, CONTRACTS, FAMILY, GIVEN, OFFICE_ID
from xl_pmpm.core.visits import aggregate_visits
from xl_pmpm.io import files
from xl_pmpm.io.visits_reader import load_mapping, read_visits

MONTH = "2026-10"
STATUS_WORDS = np.array(["Billed", "Confirmed", "Unconfirmed", "Scheduled"])


def generate_visits(n: int, month: str, seed: int = 2443, per_member: int = 30) -> pd.DataFrame:
    """`n` invented visits of `month`, one row each, all text (vectorized, no row loop)."""
    rng = np.random.default_rng(seed)
    members = max(1, n // per_member)
    ids = np.char.zfill(rng.choice(10**9, size=members, replace=False).astype(str), 10)
    contract = rng.choice(len(CONTRACTS), size=members, p=[0.4, 0.25, 0.2, 0.15])
    given = rng.integers(0, len(GIVEN), members)
    family = rng.integers(0, len(FAMILY), members)
    names = np.char.add(np.char.add(np.array(GIVEN)[given], " "), np.array(FAMILY)[family])
    who = rng.integers(0, members, n)
    start = pd.Period(month, freq="M").start_time
    days = rng.integers(0, 31, n) - np.where(rng.random(n) < 0.02, 40, 0)  # 2 % outside
    dates = (start + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d")
    hours = rng.integers(4, 49, n) / 4.0  # 1 to 12 hours in quarter hours
    status = STATUS_WORDS[rng.choice(4, size=n, p=[0.85, 0.07, 0.04, 0.04])]
    return pd.DataFrame(
        {
            "Agency ID": AGENCY_ID,
            "Office ID": OFFICE_ID,
            "Patient Number": ids[who],
            "Patient Name": names[who],
            "Contract": np.array(CONTRACTS)[contract][who],
            "Visit Date": dates,
            "Hours": np.char.mod("%.2f", hours),
            "Status": status,
        }
    )


def best_of(repeat: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visits", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    layout, book, mapping = files.load_layout(), files.load_rate_book(), load_mapping()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "visits.csv"
        t = time.perf_counter()
        generate_visits(args.visits, MONTH).to_csv(src, index=False)
        made = time.perf_counter() - t

        def ours():
            return aggregate_visits(read_visits(src, mapping), layout, book, MONTH, mapping=mapping)

        floor, _ = best_of(args.repeat, lambda: pd.read_csv(src))
        mine, table = best_of(args.repeat, ours)
        print(
            json.dumps(
                {
                    "visits": args.visits,
                    "file_mb": round(src.stat().st_size / 1e6, 1),
                    "generate_and_write_s": round(made, 2),
                    "read_csv_s": round(floor, 3),
                    "read_visits_plus_aggregate_s": round(mine, 3),
                    "ratio": round(mine / floor, 2),
                    "rows_out": len(table),
                    **{f"stats_{k}": v for k, v in table.attrs["visits"].items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
