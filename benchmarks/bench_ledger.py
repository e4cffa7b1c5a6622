"""The ledger's record step of the default export, against its own floor, same run.

One extract of `--rows` rows is generated and validated once; then, alternated
`--repeat` times, in this process:

- ledger: `workflow.export_import_file` with a new SQLite ledger; timed from the
  temp files written to the batch confirmed (`ledger_files._checkpoint`): the check,
  every entry recorded pending (built from the table), the placeholder link, the
  files put in place, the confirm;
- floor: stdlib `sqlite3` `executemany` of the same entries as ready-made tuples
  into a new file of the same schema (the same indexes), one transaction,
  `synchronous = FULL` and the ledger's page cache, committed.

CPU seconds of this process (the machine is shared by several engineers: wall time
measures the others). Medians of the pairs, with the load average at each pair.

    python benchmarks/bench_ledger.py [--rows 250000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

MONTH = "2026-10"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import sqlalchemy as sa

    from xl_pmpm.core.sample import generate_extract
    from xl_pmpm.core.validation import validate_table
    from xl_pmpm.io import files, ledger_files, workflow
    from xl_pmpm.io.ledger_db import CACHE_KIB, metadata
    from xl_pmpm.io.ledger_records import ENTRY_COLUMNS, SET_ON_INSERT, part_entries

    layout, book = files.load_layout(), files.load_rate_book()
    table = generate_extract(args.rows, MONTH, layout, book, mangle=False, below_minimum=False)
    table.index = range(2, len(table) + 2)
    at = datetime(2026, 11, 5, 9, 0)

    marks: dict[str, float] = {}
    ledger_files._checkpoint = lambda stage: marks.__setitem__(stage, time.process_time())

    def ledger_run(work: Path) -> float:
        workflow.export_import_file(
            table, work / "out", layout, book, month=MONTH, at=at, ledger=work / "ledger.db"
        )
        return marks["confirmed"] - marks["temp-written"]

    # The floor's tuples: the same entries, built once outside the timing.
    report, flags = validate_table(table, layout, book, month=MONTH)
    from xl_pmpm.core.export import import_parts

    parts = list(import_parts(table, layout, report, month=MONTH, stamp=at))
    cols = [c for c in ENTRY_COLUMNS if c not in SET_ON_INSERT]
    rows: list[tuple] = []
    for chunk in part_entries(parts, table, workflow.claimed(flags), layout, MONTH, at, "/d", ()):
        values = [chunk[c].astype(object) for c in cols]
        values = [v.where(v.notna(), None).tolist() for v in values]
        rows.extend(("b", "pending", *r) for r in zip(*values, strict=True))
    del parts
    insert = (
        f"INSERT INTO exports (batch, status, {', '.join(cols)}) "
        f"VALUES ({', '.join('?' * (len(cols) + 2))})"
    )

    def floor_run(work: Path) -> float:
        path = work / "floor.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        metadata.create_all(engine)
        engine.dispose()
        start = time.process_time()
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # as the ledger's writer
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
        return time.process_time() - start

    pairs = []
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            first, second = (ledger_run, floor_run) if i % 2 == 0 else (floor_run, ledger_run)
            t1 = first(Path(a))
            t2 = second(Path(b))
            led, flo = (t1, t2) if first is ledger_run else (t2, t1)
        pairs.append((led, flo, load))
        print(
            f"pair {i + 1}: ledger {led:.2f} s, floor {flo:.2f} s, "
            f"{led / flo:.2f}x, load {load:.1f}"
        )
    led = statistics.median(p[0] for p in pairs)
    flo = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    print(
        f"{args.rows:,} rows: ledger record step {led:.2f} s, sqlite3 floor {flo:.2f} s, "
        f"median ratio {ratio:.2f}x (load {min(p[2] for p in pairs):.1f}-"
        f"{max(p[2] for p in pairs):.1f})"
    )


if __name__ == "__main__":
    main()
