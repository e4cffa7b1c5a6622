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
    # Formatted once per distinct day and hour (a statewide month is 15M rows).
    distinct_days, day_of = np.unique(days, return_inverse=True)
    day_text = (start + pd.to_timedelta(distinct_days, unit="D")).strftime("%Y-%m-%d")
    dates = day_text.to_numpy()[day_of]
    quarters = rng.integers(4, 49, n)  # 1 to 12 hours in quarter hours
    status = STATUS_WORDS[rng.choice(4, size=n, p=[0.85, 0.07, 0.04, 0.04])]
    return pd.DataFrame(
        {
            "Agency ID": AGENCY_ID,
            "Office ID": OFFICE_ID,
            "Patient Number": ids[who],
            "Patient Name": names[who],
            "Contract": np.array(CONTRACTS)[contract][who],
            "Visit Date": dates,
            "Hours": np.char.mod("%.2f", np.arange(49) / 4.0)[quarters],
            "Status": status,
        }
    )


def duckdb_aggregate(duckdb, src: Path, mapping) -> pd.DataFrame:
    """The same aggregation in DuckDB, straight from the CSV: hours per member, contract
    and status class in the month (billed, confirmed-unbilled), visits counted."""
    col = mapping.columns
    billed = [w for w, s in mapping.statuses.items() if s == "billed"]
    unbilled = [w for w, s in mapping.statuses.items() if s == "confirmed_unbilled"]
    start = pd.Period(MONTH, freq="M").start_time.date()
    end = (pd.Period(MONTH, freq="M") + 1).start_time.date()
    status = f'lower(trim("{col["status"]}"))'
    hours = f'CAST(trim("{col["hours"]}") AS DOUBLE)'
    query = f"""
        SELECT trim("{col["patient_number"]}") AS member, trim("{col["contract"]}") AS contract,
               sum(CASE WHEN {status} IN ? THEN {hours} ELSE 0 END) AS billed,
               sum(CASE WHEN {status} IN ? THEN {hours} ELSE 0 END) AS unbilled,
               count(*) AS visits
        FROM read_csv(?, all_varchar = true)
        WHERE strptime(trim("{col["visit_date"]}"), '%Y-%m-%d') >= ?
          AND strptime(trim("{col["visit_date"]}"), '%Y-%m-%d') < ?
        GROUP BY ALL
    """
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")  # drawing it costs the baseline time
        return con.execute(query, [billed, unbilled, str(src), start, end]).df()


def duckdb_aggregate_typed(duckdb, src: Path, mapping) -> pd.DataFrame:
    """The same sums with DuckDB's own typed reading (dates and hours parsed by its
    sniffer, nothing trimmed): faster, but a bad cell stops it instead of being named,
    and only its one date form is read. A lower bound, not the same work."""
    col = mapping.columns
    billed = [w for w, s in mapping.statuses.items() if s == "billed"]
    unbilled = [w for w, s in mapping.statuses.items() if s == "confirmed_unbilled"]
    start = pd.Period(MONTH, freq="M").start_time.date()
    end = (pd.Period(MONTH, freq="M") + 1).start_time.date()
    status, hours, day = (f'"{col[k]}"' for k in ("status", "hours", "visit_date"))
    types = {col["patient_number"]: "VARCHAR", col["visit_date"]: "DATE", col["hours"]: "DOUBLE"}
    query = f"""
        SELECT "{col["patient_number"]}" AS member, "{col["contract"]}" AS contract,
               sum(CASE WHEN lower({status}) IN ? THEN {hours} ELSE 0 END) AS billed,
               sum(CASE WHEN lower({status}) IN ? THEN {hours} ELSE 0 END) AS unbilled,
               count(*) AS visits
        FROM read_csv(?, types = ?)
        WHERE {day} >= ? AND {day} < ?
        GROUP BY ALL
    """
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        return con.execute(query, [billed, unbilled, str(src), types, start, end]).df()


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
        engine = typed = None
        try:
            import duckdb  # optional: the embedded engine baseline (not a dependency)
        except ImportError:
            duckdb = None
        if duckdb is not None:
            engine, got = best_of(args.repeat, lambda: duckdb_aggregate(duckdb, src, mapping))
            typed, _ = best_of(args.repeat, lambda: duckdb_aggregate_typed(duckdb, src, mapping))
            assert len(got) == len(table), (len(got), len(table))
        print(
            json.dumps(
                {
                    "visits": args.visits,
                    "file_mb": round(src.stat().st_size / 1e6, 1),
                    "generate_and_write_s": round(made, 2),
                    "read_csv_s": round(floor, 3),
                    "read_visits_plus_aggregate_s": round(mine, 3),
                    "ratio": round(mine / floor, 2),
                    "duckdb_s": None if engine is None else round(engine, 3),
                    "ratio_to_duckdb": None if engine is None else round(mine / engine, 2),
                    "duckdb_typed_s": None if typed is None else round(typed, 3),
                    "ratio_to_duckdb_typed": None if typed is None else round(mine / typed, 2),
                    "rows_out": len(table),
                    **{f"stats_{k}": v for k, v in table.attrs["visits"].items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
