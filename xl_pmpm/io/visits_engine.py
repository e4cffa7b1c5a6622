"""`xl-pmpm visits` on a large file: the SQL DuckDB sums it with, and that query started
before pandas is imported.

Plain Python until DuckDB runs (no pandas, no numpy, no pyarrow imported here): the
program (`xl_pmpm.cli.program`) reads the command line's file, month and mapping, and
`start_sums` runs the query in a thread while the interpreter imports pandas and the
commands (DuckDB leaves Python's lock while it works). The command then asks for the same
query of the same file (`run_query`): it gets the started one's result, or runs it. A
started query nobody asks for (an error before, a different query) is interrupted at
the program's end (`stop_started`). What DuckDB read is checked by the core all the same
(`core.visits.engine_sums`), so the query started early is only ever a cache of the
command's own.
"""

from __future__ import annotations

import contextlib
import csv
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.visits_mapping import ENGINE_READS, VisitsMapping, parse_mapping, visit_headers
from xl_pmpm.io import sniff

# Files above this size are summed by DuckDB (when installed); smaller ones by pandas, whose
# start is quicker than DuckDB's import.
ENGINE_ABOVE = 16_000_000


def load_mapping(path: str | Path | None = None) -> VisitsMapping:
    """The visits column mapping from a TOML file (the bundled one when `path` is None)."""
    p = Path(path) if path else sniff.bundled("visits_columns.toml")
    raw = sniff.load_toml(p, "The mapping file", "Compare it with the bundled visits_columns.toml.")
    return parse_mapping(raw, source=str(p))


def header_names(data: bytes) -> list[str] | None:
    """The header's cells (as Arrow will name the columns); None when unsure."""
    line = data[: data.find(b"\n") if b"\n" in data else len(data)]
    try:
        names = next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return names if len(set(names)) == len(names) else None  # repeated names: pandas' way


def engine_plan(path: Path, mapping: VisitsMapping, month: str) -> tuple[str, set[str]] | None:
    """DuckDB's SQL for the file at `path` (`engine_query`) and the fields the file has, or
    None where DuckDB is not for it: a file up to ENGINE_ABOVE bytes, not plain UTF-8 CSV
    (what `sniff` refuses, UTF-16, an over-long line), a header that is not one name a
    column, a field's column missing, a column both read and grouped by."""
    try:
        if path.stat().st_size <= ENGINE_ABOVE or not path.is_file():
            return None
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    if sniff.identify(head) is not None or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    if sniff.too_long_line(head[: head.rfind(b"\n") + 1], "The visits file", str(path)):
        return None
    names = header_names(head)
    if not names:
        return None
    names = [n.strip().lstrip("\ufeff") for n in names]
    try:
        header = visit_headers(names, mapping)
    except PmpmInputError:
        return None
    typed = {header[f] for f in ENGINE_READS if f in header}
    if typed & {header[f] for f in header if f not in ENGINE_READS}:
        return None  # a column both read and grouped by: the sets could not be told apart
    return engine_query(names, header, mapping, month), set(header)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def engine_query(
    names: list[str], header: dict[str, str], mapping: VisitsMapping, month: str
) -> str:
    """DuckDB's SQL for `core.visits.engine_sums`: one pass over the file (`$path`), every
    column text (`names`: the header; `header`: the column of each field); the date forms,
    the billed status words and the month are the mapping's and the command's. What it
    reads in each distinct cell is checked by the core."""
    col = {f: f"c{names.index(h)}" for f, h in header.items()}
    start = datetime.strptime(str(month)[:7], "%Y-%m").date()
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    forms = "[" + ", ".join(_sql_text(f) for f in mapping.date_formats) + "]"
    billed = ", ".join(_sql_text(w) for w, s in mapping.statuses.items() if s == "billed")
    hours = "TRY_CAST(trim({}) AS DOUBLE)"
    reads = {
        "visit_date": f"CAST(try_strptime(trim({col['visit_date']}), {forms}) AS DATE)",
        "hours": hours.format(col["hours"]),
        "status": f"lower(trim({col['status']})) IN ({billed})",
    }
    if "authorized_hours" in col:
        reads["authorized_hours"] = hours.format(col["authorized_hours"])
    typed = ", ".join(f"{sql} AS r_{f}" for f, sql in reads.items())
    blank = " AND ".join(f"coalesce(c{i}, '') = ''" for i in range(len(names)))
    inside = f"r_visit_date >= DATE '{start}' AND r_visit_date < DATE '{end}'"
    month_hours = "sum(r_hours) FILTER (WHERE inside AND {}r_status)"
    authorized = (
        "max(r_authorized_hours) FILTER (WHERE inside)" if "authorized_hours" in col else "NULL"
    )
    # One group per contract, patient number and the member's name and IDs as written:
    # a member whose name or IDs change within the month has two groups (the core then
    # leaves the file to the reader that keeps the file's order).
    texts = [f for f in ("patient_name", "agency_id", "office_id") if f in col]
    keys = [col[f] for f in ("contract", "patient_number", *texts)]
    named = ", ".join(
        f"{col[f]} AS {f}" if f in col else f"NULL AS {f}"
        for f in ("contract", "patient_number", "patient_name", "agency_id", "office_id")
    )
    # And every distinct cell of the fields read, with what the SQL read in it: the
    # dates, hours and statuses as one set (a few thousand combinations), the authorized
    # hours (one a member, often) apart.
    together = [col[f] for f in reads if f != "authorized_hours"]
    sets = [keys, together] + ([[col["authorized_hours"]]] if "authorized_hours" in col else [])
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in sets)
    distinct = ", ".join(
        f"GROUPING({col[f]}) AS g_{f}, {col[f]} AS d_{f}, any_value(r_{f}) AS v_{f}" for f in reads
    )
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
    return f"""
        WITH v AS (
            SELECT *, {typed}
            FROM read_csv($path, columns = {{{columns}}}, header = true, auto_detect = false,
                          delim = ',', quote = '"', escape = '"', strict_mode = true)
            WHERE NOT ({blank})
        ), m AS (SELECT *, coalesce({inside}, false) AS inside FROM v)
        SELECT GROUPING({", ".join(keys)}) AS g, {named},
            coalesce({month_hours.format("")}, 0) AS billed,
            coalesce({month_hours.format("NOT ")}, 0) AS unbilled,
            {authorized} AS authorized,
            count(*) AS visits, count(*) FILTER (WHERE inside) AS in_month, {distinct}
        FROM m
        GROUP BY GROUPING SETS ({grouping})
    """


# --- the query started early ----------------------------------------------------------------


class _Started(threading.Thread):
    """One query of one file, run in a thread of its own (`start_sums`)."""

    def __init__(self, path: str, query: str) -> None:
        import duckdb

        super().__init__(name="xl-pmpm visits query", daemon=True)
        self.path, self.query = path, query
        self.con = duckdb.connect()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.con:
                self.result = _run(self.con, self.path, self.query)
        except Exception as exc:  # given to the command, which says what it means
            self.error = exc


def _run(con: Any, path: str, query: str) -> Any:
    con.execute("SET enable_progress_bar = false")
    return con.sql(query, params={"path": path}).to_arrow_table()


_STARTED: dict[tuple[str, str], _Started] = {}


def start_sums(file: str, month: str, mapping_file: str | None) -> bool:
    """Start DuckDB's query of `file` for `month` (the mapping at `mapping_file`, else the
    bundled one) in a thread, where `engine_plan` gives one (True); otherwise nothing. Never
    raises and never prints: whatever is wrong, the command finds and says it."""
    try:
        path = Path(file)
        plan = engine_plan(path, load_mapping(mapping_file), month)
        if plan is None:
            return False
        query = plan[0]
        started = _Started(str(path), query)
    except Exception:  # no DuckDB, a bad mapping, ...: the command runs without a head start
        return False
    _STARTED[(started.path, query)] = started
    started.start()
    return True


def run_query(path: Path, query: str) -> Any:
    """DuckDB's Arrow table of `query` over `path`: the result of the same query started
    by `start_sums`, or of a run now. Raises what DuckDB raised (duckdb.Error)."""
    started = _STARTED.pop((str(path), query), None)
    if started is None:
        import duckdb

        with duckdb.connect() as con:
            return _run(con, str(path), query)
    started.join()
    if started.error is not None:
        raise started.error
    return started.result


def stop_started() -> None:
    """Interrupt and wait for every started query nobody asked for (the program's end)."""
    while _STARTED:
        _, started = _STARTED.popitem()
        with contextlib.suppress(Exception):  # closed already: the query is done
            started.con.interrupt()
        started.join()
