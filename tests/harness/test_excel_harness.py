"""The Excel harness is faithful: scripts -> actions -> replay -> reopened book agree."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import excel_harness as h
import pandas as pd
import pytest
import xlwings as xw
from excel_harness import ExcelHarness
from xlwings.pro import _xlremote

HEADER = ["id", "name", "amount"]


def block(n: int, start: int = 1) -> list[list[Any]]:
    """A header plus n rows: [i, "n<i>", i * 10]."""
    return [HEADER] + [[i, f"n{i}", i * 10] for i in range(start, start + n)]


def used(book: xw.Book, sheet: str) -> list[list[Any]]:
    return book.sheets[sheet].used_range.options(ndim=2).value


# --- payloads -------------------------------------------------------------------------


def test_make_payload_shape_and_conversions(excel: ExcelHarness) -> None:
    payload = excel.payload(
        {
            "Data": [
                ["a", "b", "c"],
                [None, float("nan"), 2.0],
                [dt.date(2024, 1, 2), dt.datetime(2024, 1, 3, 4, 5, 6, 789000)],
            ],
            "Empty": [],
        },
        active="Empty",
        selection="B2",
    )
    assert payload["client"] == "Office.js"
    assert payload["version"] == xw.__version__
    assert payload["book"] == {
        "name": "PMPM_Tier_Report.xlsm",
        "active_sheet_index": 1,
        "selection": "B2",
    }
    data, empty = payload["sheets"]
    assert data["values"] == [
        ["a", "b", "c"],
        ["", "", 2],  # integral floats arrive as ints, as after JSON in the browser
        ["2024-01-02T00:00:00.000Z", "2024-01-03T04:05:06.789Z", ""],
    ]
    assert data["used_range_address"] == "A1:C3"
    assert empty["values"] == [[""]]
    assert empty["used_range_address"] is None
    book = excel.open_book(payload)
    assert book.sheets.active.name == "Empty"
    assert book.app.selection.address == "$B$2"
    assert book.sheets["Empty"].used_range.address == "$A$1"


def test_used_range_is_the_values_only_bounding_box(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": [[], [None, None], [None, "x", 1], [None, 2]]})
    assert payload["sheets"][0]["values"] == [["", "", ""], ["", "", ""], ["", "x", 1], ["", 2, ""]]
    book = excel.open_book(payload)
    assert book.sheets["S"].used_range.address == "$B$3:$C$4"


def test_open_book_keeps_one_book_and_never_mutates_the_payload(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(2)})
    before = h._copy_payload(payload)
    book = excel.open_book(payload)
    book.sheets["S"].name = "Renamed"
    book.sheets.add("Extra")
    assert payload == before
    excel.open_book(payload)
    assert sum(len(app.books) for app in xw.engines["remote"].apps) == 1


# --- values ---------------------------------------------------------------------------


def test_written_values_replay_and_read_back_equal(excel: ExcelHarness) -> None:
    payload = excel.payload({"Data": block(3), "Out": []})
    frame = pd.DataFrame({"id": [1, 2], "tier": ["A", "B"], "rate": [1.25, 2.5]})

    def script(book: xw.Book) -> None:
        rows = book.sheets["Data"]["A1"].expand().value
        book.sheets["Out"]["A1"].value = [row[:2] for row in rows]
        book.sheets["Out"]["E5"].options(index=False).value = frame

    run = excel.run(payload, script)
    assert run.funcs() == ["setValues", "setValues"]
    book = excel.open_book(run.payload)
    out = book.sheets["Out"]
    assert out["A1:B4"].value == [["id", "name"], [1, "n1"], [2, "n2"], [3, "n3"]]
    read = out["E5"].options(pd.DataFrame, index=False, expand="table").value
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)
    assert out.used_range.address == "$A$1:$G$7"


def test_book_is_a_snapshot_reads_do_not_see_writes(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": [["old"]]}))
    book.sheets["S"]["A1"].value = "new"
    assert book.sheets["S"]["A1"].value == "old"


def test_clear_contents_clear_and_sheet_clear(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(3), "T": block(1)})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s["A2:C2"].color = "#FF0000"
        s["B2"].clear_contents()
        s["C3"].clear()
        s["A4"].clear_formats()
        book.sheets["T"].clear()

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S") == [HEADER, [1, None, 10], [2, "n2", None], [3, "n3", 30]]
    assert excel.sheet_values(p, "T") == [[None]]
    assert excel.format_at(p, "S", "B2", "setRangeColor") == "#FF0000"  # kept by contents
    assert [r.func for r in excel.formats(p, "S")][-2:] == ["rangeClear", "rangeClearFormats"]
    assert excel.formats(p, "T") == [h.FormatRecord("sheetClear", None, [])]


# --- structural changes ---------------------------------------------------------------


def test_delete_rows_up_in_the_middle_of_a_block(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(6) + [["total", None, 210]]})
    run = excel.run(payload, lambda book: book.sheets["S"].range("3:4").delete("up"))
    action = run.actions[0]
    assert (action["func"], action["args"]) == ("rangeDelete", ["up"])
    assert (action["start_row"], action["row_count"], action["column_count"]) == (2, 2, 16384)
    assert used(excel.open_book(run.payload), "S") == [
        HEADER,
        [1, "n1", 10],
        [4, "n4", 40],
        [5, "n5", 50],
        [6, "n6", 60],
        ["total", None, 210],
    ]


def test_delete_cells_up_shifts_only_their_columns(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(4)})
    run = excel.run(payload, lambda book: book.sheets["S"]["B2:B3"].delete("up"))
    assert excel.sheet_values(run.payload, "S") == [
        HEADER,
        [1, "n3", 10],
        [2, "n4", 20],
        [3, None, 30],
        [4, None, 40],
    ]


def test_delete_left_columns_and_cells(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": [["a", "b", "c", "d"], [1, 2, 3, 4], [5, 6, 7, 8]]})

    def script(book: xw.Book) -> None:
        book.sheets["S"].range("B:B").delete("left")

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S") == [["a", "c", "d"], [1, 3, 4], [5, 7, 8]]
    p = excel.run(p, lambda book: book.sheets["S"]["A2"].delete("left")).payload
    assert excel.sheet_values(p, "S") == [["a", "c", "d"], [3, 4, None], [5, 7, 8]]


def test_delete_needs_an_explicit_shift_on_this_engine(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": block(7)}))
    with pytest.raises(xw.XlwingsError, match="'up' or 'left'"):
        book.sheets["S"].range("5:7").delete()


def test_insert_rows_down_and_cells_right(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(3)})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s.range("3:4").insert("down")
        s["B2"].insert("right")

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S") == [
        HEADER + [None],
        [1, None, "n1", 10],
        [None, None, None, None],
        [None, None, None, None],
        [2, "n2", 20, None],
        [3, "n3", 30, None],
    ]


def test_formats_follow_their_cells_through_deletes_and_inserts(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(6)})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s["A5:C5"].color = (255, 199, 206)  # row of id 4
        s["A3:C3"].color = "#00FF00"  # row of id 2, deleted below
        s.range("3:3").delete("up")
        s.range("2:2").insert("down")

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S", "A5:A5") == [[4]]
    assert excel.format_at(p, "S", "B5", "setRangeColor") == "#ffc7ce"
    assert excel.formats(p, "S", "setRangeColor") == [
        h.FormatRecord("setRangeColor", "A5:C5", ["#ffc7ce"])
    ]


# --- sheets ---------------------------------------------------------------------------


def test_add_rename_delete_and_activate_sheets(excel: ExcelHarness) -> None:
    payload = excel.payload({"Data": block(1), "Notes": [["x"]], "Tail": []})

    def script(book: xw.Book) -> None:
        data = book.sheets["Data"]
        book.sheets.add("After", after=data)
        book.sheets.add("First", before=data)  # before the first sheet: exact
        book.sheets.add("Early", before=book.sheets["Tail"])  # lands one place early
        book.sheets.add("Last")  # no position: appended (desktop Excel differs)
        book.sheets["Notes"].name = "Renamed"
        book.sheets["After"].delete()
        book.sheets["Renamed"].activate()

    run = excel.run(payload, script)
    assert [a["func"] for a in run.actions].count("addSheet") == 4
    book = excel.open_book(run.payload)
    assert [s.name for s in book.sheets] == ["First", "Data", "Early", "Renamed", "Tail", "Last"]
    assert book.sheets.active.name == "Renamed"
    assert book.sheets["Renamed"]["A1"].value == "x"
    assert used(book, "Last") == [[None]]


def test_new_sheet_does_not_become_active_in_excel(excel: ExcelHarness) -> None:
    payload = excel.payload({"A": [], "B": []}, active="B")

    def script(book: xw.Book) -> None:
        book.sheets.add("New", before=book.sheets["A"])
        assert book.sheets.active.name == "New"  # the engine's in-script snapshot

    p = excel.run(payload, script).payload
    assert p["book"]["active_sheet_index"] == 2  # still "B", shifted by the insert


def test_select_range_activates_its_sheet_and_remembers_selection(excel: ExcelHarness) -> None:
    payload = excel.payload({"A": block(2), "B": block(2)}, selection="C3")

    def script(book: xw.Book) -> None:
        book.sheets["B"]["A2:C3"].select()
        book.sheets["A"].activate()

    p = excel.run(payload, script).payload
    assert (p["book"]["active_sheet_index"], p["book"]["selection"]) == (0, "C3")
    p = excel.run(p, lambda book: book.sheets["B"].activate()).payload
    book = excel.open_book(p)
    assert (book.sheets.active.name, book.app.selection.address) == ("B", "$A$2:$C$3")


def test_copy_and_move_sheets(excel: ExcelHarness) -> None:
    payload = excel.payload({"A": [["a"]], "B": [["b"]], "C": [["c"]]})

    def script(book: xw.Book) -> None:
        book.sheets["A"].copy(after=book.sheets["C"])
        book.sheets["C"].move(before=book.sheets["A"])

    book = excel.open_book(excel.run(payload, script).payload)
    assert [s.name for s in book.sheets] == ["C", "A", "B", "A (2)"]
    assert book.sheets["A (2)"]["A1"].value == "a"


# --- formats, alerts, other side records -----------------------------------------------


def test_colours_fonts_number_formats_autofit_are_recorded(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(3)})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s["A1:C1"].font.bold = True
        s["A1:C1"].color = (0, 112, 192)
        s["C2:C4"].number_format = "#,##0.00"
        s["A1:C4"].autofit()
        s["A2"].column_width = 20
        s["B2:C3"].set_colors([["#FF0000", "#FF0000"], [..., "#00FF00"]])
        s.freeze_panes.freeze_at("A2")

    run = excel.run(payload, script)
    p = run.payload
    assert excel.format_at(p, "S", "B1", "setFontProperty", "bold") is True
    assert excel.format_at(p, "S", "B2", "setFontProperty", "bold") is None
    assert excel.format_at(p, "S", "C1", "setRangeColor") == "#0070c0"
    assert excel.format_at(p, "S", "C4", "setNumberFormat") == "#,##0.00"
    assert excel.format_at(p, "S", "A2", "setColumnWidth") == 20
    assert excel.format_at(p, "S", "C2", "setRangeColor") == "#ff0000"
    assert excel.format_at(p, "S", "B3", "setRangeColor") is None
    assert excel.format_at(p, "S", "C3", "setRangeColor") == "#00ff00"
    assert [r.args for r in excel.formats(p, "S", "setAutofit")] == [["columns"], ["rows"]]
    assert excel.formats(p, "S", "freezePaneAtRange") == [
        h.FormatRecord("freezePaneAtRange", None, ["A2"])
    ]
    assert excel.sheet_values(p, "S") == block(3)  # formatting leaves values alone
    excel.open_book(p)  # private keys are stripped


def test_reading_formats_is_not_implemented_on_this_engine(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": [[1]]}))
    for read in (
        lambda: book.sheets["S"]["A1"].color,
        lambda: book.sheets["S"]["A1"].formula,
        lambda: book.app.status_bar,
        lambda: book.app.calculation,
        lambda: book.app.version,
    ):
        with pytest.raises(NotImplementedError):
            read()


def test_alerts_and_book_events_are_recorded(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        book.app.alert("3 rows failed validation", title="PMPM review", mode="critical")
        book.save()

    p = excel.run(excel.payload({"S": []}), script).payload
    assert p["_alerts"] == [
        {
            "prompt": "3 rows failed validation",
            "title": "PMPM review",
            "buttons": "ok",
            "mode": "critical",
            "callback": "",
        }
    ]
    assert p["_events"] == [{"func": "save", "args": []}]


def test_hyperlink_shows_its_text(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        book.sheets["S"]["A1"].add_hyperlink("https://example.org", "Portal", "tip")

    p = excel.run(excel.payload({"S": []}), script).payload
    assert excel.sheet_values(p, "S") == [["Portal"]]
    assert excel.format_at(p, "S", "A1", "addHyperlink") == ("https://example.org", "Portal", "tip")


# --- dates and Excel's value coercion ------------------------------------------------


def test_datetime_round_trips(excel: ExcelHarness) -> None:
    when = dt.datetime(2024, 3, 1, 14, 30, 15)
    payload = excel.payload({"S": [["when", "day"], [when, dt.date(2024, 2, 29)]]})
    book = excel.open_book(payload)
    assert book.sheets["S"]["A2:B2"].value == [when, dt.datetime(2024, 2, 29)]

    def script(book: xw.Book) -> None:
        book.sheets["S"]["A3:C3"].value = [
            [when, dt.date(2025, 1, 31), pd.Timestamp("2025-06-30 08:00")]
        ]

    run = excel.run(payload, script)
    assert run.actions[0]["values"] == [
        ["2024-03-01 14:30:15", "2025-01-31", "2025-06-30 08:00:00"]
    ]
    row = excel.sheet_values(run.payload, "S", "A3:C3", raw=True)[0]
    assert row == [
        "2024-03-01T14:30:15.000Z",
        "2025-01-31T00:00:00.000Z",
        "2025-06-30T08:00:00.000Z",
    ]
    book = excel.open_book(run.payload)
    assert book.sheets["S"]["A3:C3"].value == [
        when,
        dt.datetime(2025, 1, 31),
        dt.datetime(2025, 6, 30, 8),
    ]


def test_datetime_without_z_breaks_the_engine(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": [["2024-01-02T10:30:00"]]}))
    with pytest.raises(ValueError, match="isoformat"):
        book.sheets["S"]["A1"].value  # noqa: B018


def test_excel_coerces_written_text_like_typed_input(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s["C1:C2"].number_format = "@"
        s["A1:B1"].value = ["00123", "'00123"]
        s["C1"].value = "00123"
        s["A2:B2"].value = ["12345678901234567890", "TRUE"]
        s["A3:C3"].value = ["1,234.5", "12%", "=SUM(A1:A2)"]
        s["A4:B4"].value = ["01/31/2024", "CIN AB12345C"]

    run = excel.run(excel.payload({"S": []}), script)
    assert excel.sheet_values(run.payload, "S") == [
        [123, "00123", "00123"],
        [12345678901234600000, True, None],
        [1234.5, 0.12, "=SUM(A1:A2)"],
        [dt.datetime(2024, 1, 31), "CIN AB12345C", None],
    ]
    assert excel.formats(run.payload, "S", "formula") == [
        h.FormatRecord("formula", "C3", ["=SUM(A1:A2)"])
    ]
    raw = excel.replay(excel.payload({"S": []}), run.actions, coerce=False)
    assert excel.sheet_values(raw, "S", "A1:A2") == [["00123"], ["12345678901234567890"]]


# --- names, tables, ranges --------------------------------------------------------------


def test_names_add_follow_renames_and_deletes(excel: ExcelHarness) -> None:
    payload = excel.payload(
        {"Rates": block(4)}, names=[{"name": "RateTable", "refers_to": "=Rates!$A$1:$C$5"}]
    )
    book = excel.open_book(payload)
    assert book.names["RateTable"].refers_to_range.address == "$A$1:$C$5"

    def script(book: xw.Book) -> None:
        book.names.add("Header", "=Rates!$A$1:$C$1")
        book.sheets["Rates"]["B2"].name = "First"
        book.sheets["Rates"].range("3:3").delete("up")
        book.sheets["Rates"].name = "Tier Rates"

    book = excel.open_book(excel.run(payload, script).payload)
    assert {n.name: n.refers_to for n in book.names} == {
        "RateTable": "='Tier Rates'!$A$1:$C$4",
        "Header": "='Tier Rates'!$A$1:$C$1",
        "First": "='Tier Rates'!$B$2",
    }
    assert book.names["RateTable"].refers_to_range.value[-1] == [4, "n4", 40]


def test_tables_add_rename_and_rows(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(2)})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        table = s.tables.add(s["A1:C3"], name="Claims")
        table.name = "ClaimLines"
        table.show_totals = True

    book = excel.open_book(excel.run(payload, script).payload)
    table = book.sheets["S"].tables["ClaimLines"]
    assert table.range.address == "$A$1:$C$4"
    assert table.data_body_range.value == [[1, "n1", 10], [2, "n2", 20]]
    assert table.totals_row_range.value == ["Total", None, None]

    def add_row(book: xw.Book) -> None:
        book.sheets["S"].tables["ClaimLines"].rows.add(["3", "n3", 30])

    book = excel.open_book(excel.run(excel.run(payload, script).payload, add_row).payload)
    table = book.sheets["S"].tables["ClaimLines"]
    assert table.data_body_range.value[-1] == [3, "n3", 30]
    assert table.totals_row_range.address == "$A$5:$C$5"


def test_copy_move_sort_and_remove_duplicates(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": [["k", "v"], ["b", 2], ["a", 1], ["B", 3], [None, 0], [5, 9]]})

    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s["A1:B6"].copy(s["D1"])
        s["D1:E6"].sort(1, has_headers=True)
        s["A1:B6"].remove_duplicates(1, has_headers=True)
        s["D1:E6"].move(s["G1"])

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S", "A1:B6") == [
        ["k", "v"],
        ["b", 2],
        ["a", 1],
        [None, 0],
        [5, 9],
        [None, None],
    ]
    # Excel's order: numbers, then text ignoring case (stable), blanks last.
    assert excel.sheet_values(p, "S", "G1:H6") == [
        ["k", "v"],
        [5, 9],
        ["a", 1],
        ["b", 2],
        ["B", 3],
        [None, 0],
    ]
    assert excel.sheet_values(p, "S", "D1:E1") == [[None, None]]


def test_sheet_frame_uses_the_first_row_as_header(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": [["id", None, "when"], [1, "x", dt.date(2024, 1, 1)]]})
    frame = excel.sheet_frame(payload, "S")
    assert list(frame.columns) == ["id", "Unnamed: 1", "when"]
    assert frame.iloc[0].tolist() == [1, "x", pd.Timestamp("2024-01-01")]
    assert excel.sheet_frame(payload, "S", "A2:B2", header=False).iloc[0].tolist() == [1, "x"]


# --- replay strictness ----------------------------------------------------------------


def test_unknown_action_raises_naming_it(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": []})
    with pytest.raises(h.UnsupportedActionError, match="'setSparkles'"):
        excel.replay(payload, [{"func": "setSparkles", "args": [None], "sheet_position": 0}])
    book = excel.open_book(excel.payload({"S": [[1, 2], [3, 4]]}))
    book.sheets["S"].charts.add().set_source_data(book.sheets["S"]["A1:B2"])
    with pytest.raises(h.UnsupportedActionError, match="'addChart'"):
        excel.replay(payload, book)


def test_every_action_the_engine_can_emit_is_classified() -> None:
    assert len(h.ENGINE_ACTIONS) > 100
    assert set() == h.ENGINE_ACTIONS - h.HANDLED_ACTIONS - h.UNSUPPORTED_ACTIONS
    assert h.HANDLED_ACTIONS.isdisjoint(h.UNSUPPORTED_ACTIONS)


def test_excel_refuses_to_shift_part_of_a_table(excel: ExcelHarness) -> None:
    payload = excel.payload(
        {"S": block(3)}, tables={"S": [{"name": "T", "range_address": "A1:C4"}]}
    )
    run_actions = excel.open_book(payload)
    run_actions.sheets["S"]["B2:B3"].delete("up")
    with pytest.raises(h.ReplayError, match="table 'T'"):
        excel.replay(payload, run_actions.json())


def test_replay_chains_across_scripts(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": block(2)})

    def append_total(book: xw.Book) -> None:
        s = book.sheets["S"]
        rows = s["A1"].expand().value
        s[len(rows), 0].value = ["total", None, sum(r[2] for r in rows[1:])]

    first = excel.run(payload, append_total)
    second = excel.run(first.payload, append_total)
    assert excel.sheet_values(second.payload, "S")[-2:] == [
        ["total", None, 30],
        ["total", None, 60],
    ]


# --- range-call counting --------------------------------------------------------------


def test_counts_one_for_one_whole_range_read(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": block(50)}))
    sheet = book.sheets["S"]
    with excel.count_range_calls() as calls:
        frame = sheet.range("A1:C51").options(pd.DataFrame, index=False).value
    assert frame.shape == (50, 3)
    assert (calls.count, calls.views) == (1, 1)


def test_counts_n_for_n_single_cell_reads(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": block(50)}))
    sheet = book.sheets["S"]
    with excel.count_range_calls() as calls:
        values = [sheet[f"A{i}"].value for i in range(2, 12)]
    assert values == list(range(1, 11))
    assert calls.count == 10
    assert calls.calls[0] == ("S", "A2", None)


def test_every_way_to_obtain_a_range_is_counted(excel: ExcelHarness) -> None:
    book = excel.open_book(excel.payload({"S": block(5)}))
    sheet = book.sheets["S"]
    cell = sheet["A1"]
    ways = {
        "getitem": lambda: sheet["A1"],
        "range": lambda: sheet.range((1, 1), (2, 2)),
        "cells": lambda: sheet.cells,
        "used_range": lambda: sheet.used_range,
        "expand": lambda: cell.expand(),
        "resize": lambda: cell.resize(2, 2),
        "offset": lambda: cell.offset(1, 1),
        "end": lambda: cell.end("down"),
        "index": lambda: cell[0, 0],
    }
    for name, obtain in ways.items():
        with excel.count_range_calls() as calls:
            obtain()
        assert calls.count >= 1, name
    with excel.count_range_calls() as calls:
        cell.options(ndim=2)
    assert calls.count == 0


def test_counter_nests_and_restores_the_engine(excel: ExcelHarness) -> None:
    original_init, original_api = _xlremote.Range.__init__, _xlremote.Range.api
    book = excel.open_book(excel.payload({"S": block(2)}))
    with excel.count_range_calls() as outer:
        book.sheets["S"]["A1"].value  # noqa: B018
        with excel.count_range_calls() as inner:
            book.sheets["S"]["A2"].value  # noqa: B018
    assert (outer.count, inner.count) == (2, 1)
    assert _xlremote.Range.__init__ is original_init
    assert _xlremote.Range.api is original_api


def test_a_rename_is_one_call_and_the_breakdown_names_each_kind(excel: ExcelHarness) -> None:
    """The engine reads the old name inside a rename: part of the one call, as in Excel."""
    book = excel.open_book(excel.payload({"S": block(2), "T": block(2)}))
    with excel.count_range_calls() as calls:
        sheet = book.sheets["S"]
        sheet.name = "Renamed"
        sheet["A1"].value  # noqa: B018
        sheet["A2"].value  # noqa: B018
    assert calls.crossings == {"Sheets.__call__": 1, "Sheet.name": 1}
    assert calls.breakdown() == {"Range Renamed": 2, "Sheet.name": 1, "Sheets.__call__": 1}
    assert calls.total == 4


def test_an_xlwings_call_counts_the_calls_its_com_implementation_makes(
    excel: ExcelHarness,
) -> None:
    """`Sheets.add` after the last sheet: xlwings over COM reads the count and the index,
    adds before it, looks sheets up to move the last one and activate the new one (11);
    after another sheet it adds before the next one (5); before a sheet it only adds (1).
    A table added with a name is two calls (the add, the name); each table an iteration
    yields is one; a sheet deleted is four (Excel's alerts read, turned off, back on)."""
    book = excel.open_book(excel.payload({"S": block(2), "T": block(2)}))
    counts = []
    for where, index in (("after", -1), ("after", 0), ("before", 0)):
        target = list(book.sheets)[index]  # looked up outside the counted block
        with excel.count_range_calls() as calls:
            book.sheets.add(**{where: target})
        counts.append(calls.total)
    assert counts == [11, 5, 1]
    sheet = book.sheets["S"]
    with excel.count_range_calls() as calls:
        sheet.tables.add(source=sheet["A1:C3"], name="Things")
    assert calls.breakdown() == {"Range S": 1, "Sheet.tables": 1, "Tables.add": 1, "Table.name": 1}
    with excel.count_range_calls() as calls:
        assert [t.name for t in sheet.tables] == ["Things"]
    assert calls.crossings == {"Sheet.tables": 1, "Tables.__iter__": 1, "Table.name": 1}
    with excel.count_range_calls() as calls:
        book.sheets["T"].delete()
    assert calls.crossings == {"Sheets.__call__": 1, "Sheet.delete": 1, "App.display_alerts": 3}


def test_a_sheets_position_and_its_clear_count_the_engines_own_reads_do_not(
    excel: ExcelHarness,
) -> None:
    """The front end's read of a sheet's index is a call; the engine's reads inside a write
    (it sends the sheet's position with every action) are part of that write."""
    book = excel.open_book(excel.payload({"S": block(2), "T": block(2)}))
    with excel.count_range_calls() as calls:
        sheet = book.sheets["T"]
        position = sheet.index
        sheet["A1"].value = "x"
        sheet.clear_contents()
    assert position == 2
    assert calls.breakdown() == {
        "Range T": 1,
        "Sheet.clear_contents": 1,
        "Sheet.index": 1,
        "Sheets.__call__": 1,
    }


def _read_claims(excel: ExcelHarness, rows: int) -> tuple[pd.DataFrame, h.RangeCallCounter]:
    header = [f"c{j}" for j in range(16)]
    data = [header] + [[i * 16 + j for j in range(16)] for i in range(rows)]
    book = excel.open_book(excel.payload({"Claims": data}))
    with excel.count_range_calls() as calls:
        frame = book.sheets["Claims"]["A1"].options(pd.DataFrame, index=False, expand="table").value
    return frame, calls


def test_100k_rows_read_in_one_call_count_the_same_as_1k_rows(excel: ExcelHarness) -> None:
    small_frame, small = _read_claims(excel, 1_000)
    big_frame, big = _read_claims(excel, 100_000)
    assert small_frame.shape == (1_000, 16)
    assert big_frame.shape == (100_000, 16)
    assert big_frame.iloc[-1, -1] == 100_000 * 16 - 1
    assert list(big_frame.columns) == [f"c{j}" for j in range(16)]
    assert (big.count, big.views) == (small.count, small.views)


# --- more actions ---------------------------------------------------------------------


def test_formulas_are_logged_and_kept_as_unevaluated_text(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        book.sheets["S"]["B1"].formula = "=A1*2"

    p = excel.run(excel.payload({"S": [[21]]}), script).payload
    assert excel.sheet_values(p, "S") == [[21, "=A1*2"]]
    assert excel.format_at(p, "S", "B1", "setFormula") == [["=A1*2"]]


def test_copy_from_replace_all_and_autofill(excel: ExcelHarness) -> None:
    payload = excel.payload({"S": [["draft", "x"], ["Draft 2", "y"]], "T": []})

    def script(book: xw.Book) -> None:
        s, t = book.sheets["S"], book.sheets["T"]
        s["A1:A2"].replace_all("draft", "final")
        t["A1"].copy_from(s["A1:B2"], "values", transpose=True)
        t["D1"].value = "fill"
        t["D1"].autofill(t["D1:D3"], "fill_copy")

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S", "A1:A2") == [["final"], ["final 2"]]
    # Excel runs the actions in order: the copy sees the replaced text (a read in the
    # script would not, the Book being a snapshot).
    assert excel.sheet_values(p, "T") == [
        ["final", "final 2", None, "fill"],
        ["x", "y", None, "fill"],
        [None, None, None, "fill"],
    ]


def test_table_columns_headers_and_flags(excel: ExcelHarness) -> None:
    payload = excel.payload(
        {"S": [["k", "v", "w"], ["a", 1, "x"], ["b", 2, "y"]]},
        tables={"S": [{"name": "Tb", "range_address": "A1:C3"}]},
    )
    book = excel.open_book(payload)
    assert [c.name for c in book.sheets["S"].tables["Tb"].columns] == ["k", "v", "w"]

    def script(book: xw.Book) -> None:
        table = book.sheets["S"].tables["Tb"]
        table.columns("w").delete()
        table.columns.add("rate", None)
        table.show_autofilter = False
        table.table_style = "TableStyleLight9"

    p = excel.run(payload, script).payload
    assert excel.sheet_values(p, "S") == [["k", "v", "rate"], ["a", 1, None], ["b", 2, None]]
    (table,) = p["sheets"][0]["tables"]
    assert (table["range_address"], table["columns"]) == ("A1:C3", ["k", "v", "rate"])
    assert (table["show_autofilter"], table["table_style"]) == (False, "TableStyleLight9")


def test_sheet_properties_notes_and_calculation(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        s = book.sheets["S"]
        s.visible = False
        s.show_gridlines = False
        s.page_setup.print_area = "A1:B2"
        s["A1"].add_note("checked by FI")
        book.app.calculation = "manual"

    payload = excel.run(excel.payload({"S": [[1]], "T": []}), script).payload
    assert payload["sheets"][0]["notes"] == [{"address": "A1"}]
    assert excel.format_at(payload, "S", "A1", "addNote") == "checked by FI"
    book = excel.open_book(payload)
    sheet = book.sheets["S"]
    assert (sheet.visible, sheet.show_gridlines, sheet.page_setup.print_area) == (
        False,
        False,
        "A1:B2",
    )
    assert len(sheet.notes) == 1  # a note's location and text are async-only here
    assert book.app.calculation == "manual"


def test_big_writes_are_chunked_and_replayed_whole(excel: ExcelHarness) -> None:
    frame = pd.DataFrame({f"c{j}": range(j, 30_000 * 5, 5) for j in range(5)})

    def script(book: xw.Book) -> None:
        book.sheets["S"]["A1"].options(index=False).value = frame

    run = excel.run(excel.payload({"S": []}), script)
    assert run.funcs().count("setValues") > 1  # > 100,000 cells: the engine chunks
    book = excel.open_book(run.payload)
    read = book.sheets["S"]["A1"].options(pd.DataFrame, index=False, expand="table").value
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)


def test_replayed_payloads_survive_a_json_round_trip(excel: ExcelHarness) -> None:
    def script(book: xw.Book) -> None:
        book.sheets["S"]["A1:B1"].color = "#FFFF00"
        book.sheets["S"]["C1"].value = dt.datetime(2024, 1, 2)

    p = json.loads(json.dumps(excel.run(excel.payload({"S": [[1, 2]]}), script).payload))
    assert excel.format_at(p, "S", "B1", "setRangeColor") == "#FFFF00"
    p = excel.run(p, lambda book: book.sheets["S"].range("A:A").delete("left")).payload
    assert excel.formats(p, "S") == [h.FormatRecord("setRangeColor", "A1", ["#FFFF00"])]
    assert excel.open_book(p).sheets["S"]["B1"].value == dt.datetime(2024, 1, 2)
