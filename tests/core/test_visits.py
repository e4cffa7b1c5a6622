"""Visits (one row per visit) -> tier report, against a hand-computed expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import BOOK, HEADER, LAYOUT, MONTH, csv_text
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xl_pmpm.cli.commands_month import add_commands
from xl_pmpm.cli.parser import Parser
from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.summary import visit_summary
from xl_pmpm.core.validation import validate_table
from xl_pmpm.core.visits import aggregate_visits, parse_mapping
from xl_pmpm.io import files
from xl_pmpm.io.visits_reader import iter_visits, load_mapping, read_visits, read_visits_bytes

MAPPING = load_mapping()
VISIT_HEADER = [
    "Agency ID",
    "Office ID",
    "Patient Number",
    "Patient Name",
    "Contract",
    "Visit Date",
    "Hours",
    "Status",
    "Authorized Hours",
]
LINKED = "Linked - Metro MLTC CDPAP"
SHP = "Sample Health Plan PMPM"
AUTH = "Authorized Example Plan"


def visit(pid, contract, day, hours, status, name="", auth=""):
    return ["48213", "702", pid, name, contract, day, hours, status, auth]


VISITS = [
    # A: 100 + 59.99 billed = 159.99 -> Tier 1; 2 + 3 unbilled; April visit ignored.
    visit("0000000001", LINKED, "2025-03-01", "100", "Billed", "Ana Smith"),
    visit("0000000001", LINKED, "03/31/2025", "59.99", "billed", "Ana Smith"),
    visit("0000000001", LINKED, "2025-03-05", "2", "Confirmed", "Ana Smith"),
    visit("0000000001", LINKED, "2025-03-06", "3", "Scheduled", "Ana Smith"),
    visit("0000000001", LINKED, "2025-04-01", "50", "Billed", "Ana Smith"),
    # B: 53.33 + 53.33 + 53.34 = 160.00 (159.99999... in floating point) -> Tier 2.
    visit("0000000002", LINKED, "2025-03-02", "53.33", "Billed", "Bo Kim"),
    visit("0000000002", LINKED, "2025-03-03", "53.33", "Billed", "Bo Kim"),
    visit("0000000002", LINKED, "2025-03-04", "53.34", "BILLED", "Bo Kim"),
    # C: unbilled hours only -> no tier.
    visit("0000000003", LINKED, "2025-03-10", "12.5", "Unconfirmed", "Cy Park"),
    visit("0000000003", LINKED, "2025-03-11", "0.25", "Partially Confirmed", "Cy Park"),
    # D: payer with its own codes: 480 -> Tier 3, SHP-T3.
    visit("0000000004", SHP, "2025-03-15", "480", "Billed", "Di Rossi"),
    # E: authorized-hours payer: 10 billed but 200 authorized -> Tier 2.
    visit("0000000005", AUTH, "2025-03-20", "10", "Billed", "Ed Santos", "200"),
    visit("0000000005", AUTH, "2025-03-21", "4", "Scheduled", "Ed Santos", "200"),
]


def expected() -> pd.DataFrame:
    def row(pid, name, contract, code, billed, unbilled, tier, auth=""):
        return {
            "Agency ID": "48213",
            "Office ID": "702",
            "Patient Number": pid,
            "Schedule Start Time": "2025-03-01 03:00",
            "Schedule End Time": "2025-03-01 03:15",
            "Visit Start Time": "2025-03-01 03:00",
            "Visit End Time": "2025-03-01 03:15",
            "Caregiver Code": "1000",
            "Pay Rate": "Non Payable",
            "Discipline": "PA",
            "Primary Contract": contract,
            "Primary Service code": code,
            "Patient Name": name,
            "Billed Hours": billed,
            "Unbilled Hours": unbilled,
            "Tier": tier,
            "Authorized Hours": auth,
        }

    rows = [  # ordered by contract, then patient number
        row("0000000005", "Ed Santos", AUTH, "2444", "10.00", "4.00", "2", "200.00"),
        row("0000000001", "Ana Smith", LINKED, "2443", "159.99", "5.00", "1"),
        row("0000000002", "Bo Kim", LINKED, "2444", "160.00", "0.00", "2"),
        row("0000000003", "Cy Park", LINKED, "", "0.00", "12.75", ""),
        row("0000000004", "Di Rossi", SHP, "SHP-T3", "480.00", "0.00", "3"),
    ]
    frame = pd.DataFrame(rows, columns=LAYOUT.names).astype(str)
    frame.index = pd.RangeIndex(2, len(rows) + 2, name="line")
    return frame


@pytest.fixture
def visits_file(tmp_path):
    path = tmp_path / "visits.csv"
    path.write_text(csv_text(VISIT_HEADER, VISITS), encoding="utf-8")
    return path


def test_tier_report_equals_hand_computed(visits_file):
    table = aggregate_visits(
        read_visits(visits_file, MAPPING), LAYOUT, BOOK, MONTH, mapping=MAPPING
    )
    pd.testing.assert_frame_equal(table, expected())
    assert table.attrs["visits"] == {
        "visits": 13,
        "in_month": 12,
        "outside_month": 1,
        "rows": 5,
        "split_members": 0,
        "auto_billed_members": 0,
    }


def test_text_table_is_normalized_on_the_way(visits_file):
    raw = pd.read_csv(visits_file, dtype=str, keep_default_na=False)
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    table = aggregate_visits(raw, LAYOUT, BOOK, MONTH, mapping=MAPPING)
    pd.testing.assert_frame_equal(table, expected())


def test_generated_report_validates_except_the_member_without_billed_hours(visits_file):
    table = aggregate_visits(
        read_visits(visits_file, MAPPING), LAYOUT, BOOK, MONTH, mapping=MAPPING
    )
    report, flags = validate_table(table, LAYOUT, BOOK, month=MONTH)
    errors = report.errors
    assert set(errors["row"]) == {5}  # member C only
    assert "below-minimum-hours" in set(errors["code"])
    summary = visit_summary(table, flags, layout=LAYOUT)
    assert summary["members"] == 5 and summary["billable_members"] == 4
    assert summary["dollars"] == round(387.84 + 146.45 + 387.84 + 1060.00, 2)
    # A: 159.99 billed + 5 unbilled would be Tier 2: at risk, holding the Tier 1 rate.
    # C: no tier now, Tier 1 once billed: at risk, holding nothing.
    assert summary["at_risk_members"] == 2 and summary["at_risk_dollars"] == 146.45
    assert summary["at_risk_effect"] == round(387.84 - 146.45 + 146.45, 2)
    assert summary["by_tier"].loc[2, "members"] == 2
    assert summary["by_contract"].loc[LINKED, "billable_members"] == 2


@pytest.mark.parametrize(
    ("hours", "shown", "tier"),
    [
        (["100", "59.9966"], "159.99", "1"),  # 159.9966 h is under 160: Tier 1, shown cut
        (["100", "59.9999999999"], "160.00", "2"),  # noise in the sum is no fraction of an hour
        (["53.33", "53.33", "53.34"], "160.00", "2"),
        (["0.995"], "0.99", ""),  # under one hour stays under one hour when shown
    ],
)
def test_tier_is_taken_from_the_exact_hours_and_the_shown_hours_agree(hours, shown, tier):
    visits = [visit("0000000009", LINKED, "2025-03-02", h, "Billed") for h in hours]
    raw = pd.read_csv(
        pd.io.common.StringIO(csv_text(VISIT_HEADER, visits)), dtype=str, keep_default_na=False
    )
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    table = aggregate_visits(raw, LAYOUT, BOOK, MONTH, mapping=MAPPING)
    row = table.iloc[0]
    assert (row[LAYOUT.name_of("billed_hours")], row[LAYOUT.name_of("tier")]) == (shown, tier)
    # The file's own hours give the file's tier: validation finds no tier mismatch.
    report, _ = validate_table(table, LAYOUT, BOOK, month=MONTH)
    assert "tier-mismatch" not in set(report.findings["code"])


@pytest.mark.parametrize(
    ("line", "column", "cell", "words"),
    [
        (3, "Visit Date", "2025-13-01", "not a date"),
        (4, "Hours", "7:30", "not a number of hours"),
        (5, "Hours", "-2", "not a number of hours"),
        (6, "Status", "Cancelled", "not a known visit status"),
        (7, "Patient Number", "", "blank"),
    ],
)
def test_bad_cells_name_file_line_and_column(tmp_path, line, column, cell, words):
    rows = [list(r) for r in VISITS[:6]]
    rows[line - 2][VISIT_HEADER.index(column)] = cell
    path = tmp_path / "bad.csv"
    path.write_text(csv_text(VISIT_HEADER, rows), encoding="utf-8")
    with pytest.raises(PmpmInputError) as err:
        read_visits(path, MAPPING)
    assert (err.value.row, err.value.column, err.value.file) == (line, column, str(path))
    assert words in err.value.message


def test_blank_lines_keep_line_numbers():
    data = csv_text(VISIT_HEADER, VISITS[:2]) + "\r\n,,,,,,,,\r\n"
    data += csv_text(VISIT_HEADER, [visit("9", LINKED, "bad", "1", "Billed")]).split("\r\n", 1)[1]
    with pytest.raises(PmpmInputError) as err:
        read_visits_bytes(data.encode(), MAPPING, "v.csv")
    assert err.value.row == 6  # header 1, rows 2-3, blank 4, blank 5, bad row 6


# A mapping of a file with other headers and status words than the bundled one's.
OTHER_MAPPING = {
    "columns": {
        "patient_number": "member",
        "contract": "plan",
        "visit_date": "date",
        "hours": "hrs",
        "status": "state",
    },
    "statuses": {"billed": ["done"]},
}


def test_missing_column_and_custom_mapping():
    raw = pd.DataFrame(
        {
            "Member": ["0007"],
            "Plan": [LINKED],
            "Date": ["2025-03-02"],
            "Hrs": ["200"],
            "State": ["Done"],
        }
    )
    with pytest.raises(PmpmInputError, match="no column 'Patient Number'"):
        aggregate_visits(raw, LAYOUT, BOOK, MONTH, mapping=MAPPING)
    custom = parse_mapping(
        {**OTHER_MAPPING, "defaults": {"agency_id": "48213", "office_id": "702"}}
    )
    raw.index = pd.RangeIndex(2, 3)
    table = aggregate_visits(raw, LAYOUT, BOOK, MONTH, mapping=custom)
    row = table.iloc[0]
    assert (row["Patient Number"], row["Tier"], row["Billed Hours"]) == ("0007", "2", "200.00")
    assert (row["Agency ID"], row["Office ID"]) == ("48213", "702")
    assert list(table.columns) == LAYOUT.names and set(HEADER) <= set(table.columns)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("%m/%dY", "no year"),  # a % lost: a day, no year
        ("%m/%d", "no year"),
        ("%%Y-%m-%d", "no year"),  # a literal "%Y"
        ("", "empty"),
        ("%Y-%m-%d %", "stray"),
    ],
)
def test_a_date_format_without_a_year_or_with_a_typo_is_a_clear_error(written, problem):
    raw = {**OTHER_MAPPING, "format": {"date_formats": ["%Y-%m-%d", written]}}
    with pytest.raises(PmpmInputError) as refused:
        parse_mapping(raw, source="mine.toml")
    said = str(refused.value)
    assert f"[format] date_formats '{written}' is not a date format" in said
    assert problem in said and refused.value.file == "mine.toml"
    raw["format"]["date_formats"] = ["%d.%m.%y", "%Y%m%d", "%m/%d/%Y %H:%M"]
    assert parse_mapping(raw).date_formats == ("%d.%m.%y", "%Y%m%d", "%m/%d/%Y %H:%M")


def _run(argv: list[str]) -> int:
    parser = Parser()  # the commands are declared for xl-pmpm's parser (example=, group=)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_visits_and_summary_commands(visits_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["visits", str(visits_file), "--month", MONTH, "--out", str(out)]
    code = _run([*argv, "--format", "json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 1  # member C is below the minimum: rows to review
    assert payload["rows"] == 5 and payload["outside_month"] == 1
    written = files.read_tier_report(payload["file"], LAYOUT)
    assert written.table.reset_index(drop=True).equals(expected().reset_index(drop=True))
    assert _run(["summary", payload["file"], "--format", "json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["members"] == 5 and summary["at_risk_members"] == 2
    assert _run(["summary", payload["file"]]) == 1
    text = capsys.readouterr().out
    assert "0000000001" not in text and "Ana Smith" not in text  # no member data in text


def test_visits_command_bad_input_exits_2(tmp_path, capsys):
    path = tmp_path / "v.csv"
    path.write_text(csv_text(VISIT_HEADER, [visit("1", LINKED, "x", "1", "Billed")]))
    assert _run(["visits", str(path), "--month", MONTH, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "Visit Date" in err and "Traceback" not in err
    assert _run(["visits", str(path), "--month", "March", "--out", str(tmp_path / "o")]) == 2


# --- large files: an engine's sums (Arrow, DuckDB), the core's rules on every distinct cell ---

# Cells the engine must read as the core does: spaces around IDs and words, a name that
# changes within the month (the first one is kept), a comma and a quote in a name.
ODD = [
    visit(" 0000000006 ", LINKED, " 2025-03-07 ", " 7.25 ", " billed ", 'Lee, "Jo"'),
    visit("0000000006", LINKED, "2025-03-08", "8", "Confirmed - Unbilled", 'Lee, "Jo"'),
    visit("0000000007", SHP, "2025-03-09 10:30", "160", "Billed", "Mo Chen"),
    visit("0000000007", SHP, "2025-03-10", "1", "Billed", "Mo Chen-Li"),
]


@pytest.fixture(params=["arrow", "arrow side by side", "duckdb"])
def engine(request, monkeypatch):
    """The reader with every file summed by an engine: Arrow and numpy (its columns encoded
    one after another, as a small file's are, or side by side on threads, as a large
    file's are), or DuckDB (a file above ARROW_UP_TO bytes)."""
    if request.param == "duckdb":
        pytest.importorskip("duckdb")
    from xl_pmpm.core import parallel
    from xl_pmpm.io import visits_reader

    monkeypatch.setattr(visits_reader, "ENGINE_ABOVE", 0)
    arrow = request.param.startswith("arrow")
    monkeypatch.setattr(visits_reader, "ARROW_UP_TO", 10**15 if arrow else -1)
    side_by_side = request.param == "arrow side by side"
    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 0 if side_by_side else 10**12)
    return visits_reader


# A member's name written otherwise on a visit outside the month (DuckDB groups by the
# name as written; that group has no visit of the month and is left out, as pandas'
# reader leaves the visit out).
RENAMED_OUTSIDE = [visit("0000000001", LINKED, "2025-04-02", "3", "Billed", "Ana Smith-Lee")]


# Blank lines and Excel's trailing ',,,' rows amid the visits (left out), and a name whose
# quoted cell holds a line break (one cell, not two lines).
BLANK_AND_BROKEN = [
    [""] * 9,
    *VISITS[:3],
    [""] * 9,
    visit("0000000008", SHP, "2025-03-12", "4.5", "Billed", "Lee\r\nJo"),
    *VISITS[3:],
    [""] * 9,
]


@pytest.mark.parametrize(
    "rows",
    [VISITS, VISITS + ODD, VISITS + RENAMED_OUTSIDE, BLANK_AND_BROKEN],
    ids=["plain", "odd cells", "renamed outside the month", "blank rows, a quoted line break"],
)
def test_engine_sums_write_the_same_bytes(engine, tmp_path, capsys, monkeypatch, rows):
    path = tmp_path / "visits.csv"
    path.write_text(csv_text(VISIT_HEADER, rows), encoding="utf-8")
    written = []
    for above in (0, 10**15):  # by DuckDB, then by pandas
        monkeypatch.setattr(engine, "ENGINE_ABOVE", above)
        argv = ["visits", str(path), "--month", MONTH, "--out", str(tmp_path / f"o{above}")]
        assert _run([*argv, "--format", "json"]) == 1
        written.append(Path(json.loads(capsys.readouterr().out)["file"]).read_bytes())
    assert written[0] == written[1]
    monkeypatch.setattr(engine, "ENGINE_ABOVE", 0)
    used = engine._engine_sums(path, MAPPING, MONTH)
    # The changing name: DuckDB does not keep the file's order, pandas' reader does.
    assert (used is None) == ("Mo Chen-Li" in str(rows))


def sums_in_blocks(tmp_path, monkeypatch, rows, block, side_by_side=False):
    """The member-months of `rows` in a file Arrow reads in blocks of `block` bytes (its
    columns encoded side by side on threads, as a large file's are, with `side_by_side`): as
    `read_visit_sums` gives them, as Arrow's engine alone gives them (None where Arrow
    stops), and as pandas' chunked reader gives them."""
    from xl_pmpm.core import parallel
    from xl_pmpm.io import visits_reader

    monkeypatch.setattr(parallel, "COLUMNS_SIDE_BY_SIDE_ROWS", 0 if side_by_side else 10**12)
    path = tmp_path / "visits.csv"
    path.write_text(csv_text(VISIT_HEADER, rows), encoding="utf-8")
    monkeypatch.setattr(visits_reader, "ARROW_UP_TO", 10**15)
    monkeypatch.setattr(visits_reader, "_BLOCK", block * 8)  # Arrow's blocks: _BLOCK // 8
    monkeypatch.setattr(visits_reader, "ENGINE_ABOVE", 0)
    summed = visits_reader.read_visit_sums(path, MAPPING, MONTH)
    arrows = visits_reader._engine_sums(path, MAPPING, MONTH)
    monkeypatch.setattr(visits_reader, "ENGINE_ABOVE", 10**15)
    return summed, arrows, visits_reader.read_visit_sums(path, MAPPING, MONTH)


@pytest.mark.parametrize("block", [96, 160, 400, 1 << 20])
def test_arrow_sums_of_quoted_line_breaks_at_any_block_cut(tmp_path, monkeypatch, block):
    """Arrow's blocks are cut at line ends without looking at quotes: a name's line break,
    wherever a cut falls, still sums as pandas' reader sums it (Arrow's own, or stopped and
    left to the chunked reader)."""
    rows = [
        visit(f"{i % 9:010d}", SHP, f"2025-03-{1 + i % 28:02d}", "2.5", "Billed", "Lee\r\nJo")
        if i % 3 == 0
        else visit(f"{i % 9:010d}", LINKED, "2025-03-02", "1.25", "Confirmed", "Mo, Chen")
        for i in range(90)
    ]
    summed, arrows, by_pandas = sums_in_blocks(tmp_path, monkeypatch, rows, block)
    # Small blocks: a cut falls inside a name's quotes and stops Arrow; one block: Arrow's.
    assert (arrows is None) == (block < 1000)
    pd.testing.assert_frame_equal(summed, by_pandas, check_dtype=False, check_categorical=False)
    assert "Lee\r\nJo" in set(summed["name"])


@pytest.mark.parametrize("side_by_side", [False, True])
@pytest.mark.parametrize("block", [400, 2000, 1 << 20])
def test_arrow_sums_of_many_blocks_are_pandas_sums(tmp_path, monkeypatch, block, side_by_side):
    """A file Arrow reads in many blocks (each its own chunk: a member's number and name
    encoded over all of them, the other columns' dictionaries one per block) sums as one
    block does, and as pandas' reader does."""
    rows = [
        visit(
            f"{(i * 7) % 23:010d}",
            SHP if i % 5 else LINKED,
            f"2025-{3 + i % 2:02d}-{1 + i % 28:02d}",
            f"{1 + i % 8}.25",
            ("Billed", "Confirmed", " billed ")[i % 3],
            f"Lee, Jo{(i * 7) % 23}",
        )
        for i in range(300)
    ]
    summed, arrows, by_pandas = sums_in_blocks(tmp_path, monkeypatch, rows, block, side_by_side)
    assert arrows is not None  # Arrow's, whole
    pd.testing.assert_frame_equal(summed, by_pandas, check_dtype=False, check_categorical=False)
    assert len(summed) == len({(r[2], r[4]) for r in rows if r[5].startswith(MONTH)})


def test_engine_sums_read_a_header_with_spaces_and_a_byte_order_mark(engine, tmp_path):
    header = [f"  {h} " for h in VISIT_HEADER]
    path = tmp_path / "spaced.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(header, VISITS).encode("utf-8"))
    plain = tmp_path / "plain.csv"
    plain.write_text(csv_text(VISIT_HEADER, VISITS), encoding="utf-8")
    used = engine._engine_sums(path, MAPPING, MONTH)
    assert used is not None
    pd.testing.assert_frame_equal(used, engine._engine_sums(plain, MAPPING, MONTH))


@pytest.mark.parametrize(
    ("line", "column", "cell"),
    [(3, "Visit Date", "2025-13-01"), (4, "Hours", "1e3"), (5, "Hours", "-2"), (6, "Status", "x")],
)
def test_engine_path_names_the_bad_cell(engine, tmp_path, line, column, cell):
    rows = [list(r) for r in VISITS[:6]]
    rows[line - 2][VISIT_HEADER.index(column)] = cell
    path = tmp_path / "bad.csv"
    path.write_text(csv_text(VISIT_HEADER, rows), encoding="utf-8")
    assert engine._engine_sums(path, MAPPING, MONTH) is None
    with pytest.raises(PmpmInputError) as err:
        engine.read_visit_sums(path, MAPPING, MONTH)
    assert (err.value.row, err.value.column) == (line, column)


def test_engine_path_leaves_other_encodings_and_ragged_rows_to_the_pandas_reader(engine, tmp_path):
    rows = [list(r) for r in VISITS]
    rows[0][VISIT_HEADER.index("Patient Name")] = "José Peña"
    path = tmp_path / "cp1252.csv"
    path.write_bytes(csv_text(VISIT_HEADER, rows).encode("cp1252"))
    assert engine._engine_sums(path, MAPPING, MONTH) is None
    sums = engine.read_visit_sums(path, MAPPING, MONTH)
    assert "José Peña" in set(sums["name"])
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(csv_text(VISIT_HEADER, VISITS).encode() + b"48213,702,9,x,y\r\n")
    assert engine._engine_sums(ragged, MAPPING, MONTH) is None
    with pytest.raises(PmpmInputError) as err:
        engine.read_visit_sums(ragged, MAPPING, MONTH)
    assert err.value.row == len(VISITS) + 2


# Visits as an extract or a biller's hand writes them: members (a number, a name, the
# agency's and office's IDs) whose numbers and names need quoting or trimming, the mapping's
# date forms and months either side, hours and status words with spaces and in any case.
MEMBERS = [
    ["48213", "702", "0000000001", "Ana Smith"],
    ["48213", "0702", "0000000002", "Smith, Ana"],
    ["48214", "702", "0000000003", 'Lee, "Jo"'],
    [" 48213", "", "00000000004", "Lee\r\nJo"],
    ["48213", "702", "5", "Ana\nSmith"],
    ["48213", "702", " 0000000006 ", " Zoë"],
]
GOOD = {
    "Contract": [LINKED, " " + LINKED, SHP, AUTH],
    "Visit Date": ["2025-03-01", "03/31/2025", " 2025-03-05 ", "2025-03-09 10:30"]
    + ["03/09/2025 10:30", "2025-04-01", "2025-02-28"],
    "Hours": ["8", " 7.25 ", "53.33", ".5", "8.0 ", "0", "160"],
    "Status": ["Billed", "billed", " BILLED ", "Confirmed", "Confirmed - Unbilled", "Scheduled"]
    + ["Partially Confirmed", "Unconfirmed"],
    "Authorized Hours": ["", "200", " 10 ", "0"],
}
# And one cell of a row wrong, or changed: a member's name or IDs written otherwise, dates
# in forms the mapping does not list, hours that are not a number, unknown status words.
ODD = {
    "Agency ID": ["", "48299"],
    "Patient Number": ["", "0000000001\u00a0", "x"],
    "Patient Name": ["", "Ana  Smith", "\u00a0Ana", "Ana\tSmith", "\ufeffAna", "="],
    "Contract": [LINKED.lower(), "Unknown Plan", ""],
    "Visit Date": ["2025-03-31T23:00", "2025-03-01 00:00:00", "3/1/2025", "2025-3-1"]
    + ["2025/03/01", "20250301", "Mar 1, 2025", "2025-03-01\u00a0", "2025-02-30", "31/03/2025", ""],
    "Hours": ["+3", "-0", "1e3", "-2", "abc", "1,5", "NaN", "inf", "1e400", "1_000", "0x10", ""]
    + ["\uff18"],
    "Status": ["bILLED", "Billed\t", "\u00a0Billed", "Billed.", "Weird", ""],
    "Authorized Hours": ["-5", "abc", "nan", "1e3"],
}
GOOD_ROW = st.builds(
    lambda member, rest: [*member, *rest],
    st.sampled_from(MEMBERS),
    st.tuples(*(st.sampled_from(GOOD[h]) for h in VISIT_HEADER[4:])),
)


@st.composite
def _odd_row(draw) -> list[str]:
    """A row of good cells but one, drawn from its column's odd cells."""
    row = draw(GOOD_ROW)
    column = draw(st.sampled_from(list(ODD)))
    row[VISIT_HEADER.index(column)] = draw(st.sampled_from(ODD[column]))
    return row


@st.composite
def _visit_rows(draw) -> list[list[str]]:
    """Good rows, a few blank ones amid them (Excel's ',,,' too), and at most one odd row
    or one short of cells."""
    rows = draw(st.lists(GOOD_ROW, min_size=1, max_size=25))
    blank = st.sampled_from([[""] * 9, [""] * 9, [""] * 3])  # a short one: Arrow's read stops
    kind = draw(st.sampled_from(["none", "none", "odd", "odd", "short"]))
    odd = {"odd": [draw(_odd_row())], "short": [["48213", "702", "0000000001"]]}.get(kind, [])
    for row in draw(st.lists(blank, max_size=3)) + odd:
        rows.insert(draw(st.integers(0, len(rows))), row)
    return rows


def _read_or_error(read):
    """What `read()` gives, or the PmpmInputError it raises as (line, column, message)."""
    try:
        return read()
    except PmpmInputError as exc:
        return (exc.row, exc.column, str(exc))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=_visit_rows(),
    eol=st.sampled_from(["\r\n", "\n"]),
    tail=st.sampled_from([b""] * 4 + [b"\r\n\r\n", b",,,,,,,,\n", b'"', b"\xe9\n", b"\x00"]),
)
# A member whose name is written otherwise on a later visit (the first is the report's), and
# one billed on both sides of the month.
@example(
    rows=[
        visit("1", LINKED, "2025-03-01", "8", "Billed", "Ana"),
        visit("1", LINKED, "2025-03-02", "8", "Billed", "Ana Lee"),
    ],
    eol="\r\n",
    tail=b"",
)
@example(
    rows=[
        visit("1", LINKED, "2025-02-28", "8", "Billed", "Ana"),
        visit("1", LINKED, "2025-03-02", "8", "Billed", "Ana"),
    ],
    eol="\n",
    tail=b"",
)
def test_engine_sums_are_the_chunked_readers_for_any_file(engine, tmp_path, rows, eol, tail):
    """Whatever the cells, a file summed by an engine (or left by it to the chunked reader)
    gives the chunked reader's sums, or its error. Not drawn: a row with one cell more than
    the header, even an empty one. DuckDB reads a last empty cell as a trailing delimiter (the
    row then has its header's cells) where Arrow and pandas refuse the row; DuckDB sums only
    files above ARROW_UP_TO bytes."""
    path = tmp_path / "visits.csv"
    path.write_bytes(csv_text(VISIT_HEADER, rows, eol=eol).encode() + tail)
    by_engine = _read_or_error(lambda: engine.read_visit_sums(path, MAPPING, MONTH))
    engine.ENGINE_ABOVE = 10**15  # the fixture's monkeypatch puts the constant back after
    chunked = _read_or_error(lambda: engine.read_visit_sums(path, MAPPING, MONTH))
    engine.ENGINE_ABOVE = 0
    if isinstance(by_engine, tuple) or isinstance(chunked, tuple):
        assert by_engine == chunked
    else:
        pd.testing.assert_frame_equal(
            by_engine, chunked, check_dtype=False, check_categorical=False
        )


# A chunk's text columns are categoricals of their own: compared as text.
TEXT_FIELDS = ("patient_number", "contract", "patient_name", "agency_id", "office_id")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_visit_rows(),
    eol=st.sampled_from(["\r\n", "\n"]),
    chunk_rows=st.integers(1, 7),
    ahead=st.sampled_from([0, 500]),
)
def test_visits_read_a_few_rows_at_a_time_are_the_whole_files(
    tmp_path_factory, rows, eol, chunk_rows, ahead
):
    """`iter_visits` (Arrow's batches, then pandas' chunks from the first row Arrow cannot
    read) gives the visits `read_visits` gives for the whole file, or its error. `ahead`
    good rows first: Arrow's batches (16 KB at least) read them before the rows drawn, so a
    row Arrow cannot read hands the rest of the file to pandas."""
    path = tmp_path_factory.mktemp("streamed") / "visits.csv"
    first = [visit("0000000009", SHP, "2025-03-02", "1.5", "Billed", "Mo, Chen")] * ahead
    path.write_bytes(csv_text(VISIT_HEADER, first + rows, eol=eol).encode())
    as_text = dict.fromkeys(TEXT_FIELDS, str)
    whole = _read_or_error(lambda: read_visits(path, MAPPING).astype(as_text))
    streamed = _read_or_error(
        lambda: pd.concat(
            list(iter_visits(path, MAPPING, chunk_rows=chunk_rows, stream_above=0))
        ).astype(as_text)
    )
    if isinstance(whole, tuple) or isinstance(streamed, tuple):
        assert streamed == whole
    else:  # the index's name aside: "row" where a quoted line break makes rows not lines
        pd.testing.assert_frame_equal(streamed, whole, check_index_type=False, check_names=False)
