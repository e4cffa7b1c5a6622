"""Review actions: delete, defer and restore are exact round trips; suggestions clear errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from core_helpers import (
    BOOK,
    HEADER,
    LAYOUT,
    PATIENT,
    VISIT_END,
    VISIT_START,
    check_rows,
    valid_rows,
    valid_table,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xl_pmpm.core.errors import PmpmInputError
from xl_pmpm.core.review import DEFER, DELETE, defer_rows, delete_rows, restore_rows
from xl_pmpm.core.validation import validate_table
from xl_pmpm.io import files, workflow

AT = datetime(2026, 11, 2, 9, 30, 0)
SAMPLE = workflow.check_file(files.bundled("sample_tier_report.csv"), LAYOUT, BOOK)
SAMPLE_TABLE = SAMPLE.report.table
VISITS = [VISIT_START, VISIT_END]


def assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Index, columns, values and dtypes all equal."""
    assert got.equals(want)
    pd.testing.assert_frame_equal(got, want)
    assert list(got.index) == list(want.index)
    assert got.index.name == want.index.name


def later(n: int) -> datetime:
    return AT + timedelta(seconds=n)


# --- single actions ---------------------------------------------------------------------


def test_delete_then_restore_is_the_original() -> None:
    table = valid_table(6)
    out, archive = delete_rows(table, [3, 6], reason="test", at=AT)
    assert list(out.index) == [2, 4, 5, 7]
    restored, remaining = restore_rows(out, archive)
    assert_same_table(restored, table)
    assert remaining.empty


def test_defer_then_restore_is_the_original() -> None:
    table = valid_table(6)
    out, archive = defer_rows(table, [4, 2], LAYOUT, reason="test", at=AT)
    restored, remaining = restore_rows(out, archive)
    assert_same_table(restored, table)
    assert remaining.empty


def test_defer_then_delete_same_row_then_restore_is_the_original() -> None:
    table = valid_table(5)
    deferred, a1 = defer_rows(table, [3], LAYOUT, reason="at risk", at=AT)
    deleted, a2 = delete_rows(deferred, [3], reason="gone", at=later(1))
    archive = pd.concat([a1, a2], ignore_index=True)
    restored, remaining = restore_rows(deleted, archive)
    assert_same_table(restored, table)
    assert remaining.empty


def test_defer_then_delete_same_row_in_the_same_second() -> None:
    table = valid_table(5)
    deferred, a1 = defer_rows(table, [3], LAYOUT, reason="at risk", at=AT)
    deleted, a2 = delete_rows(deferred, [3], reason="gone", at=AT)
    restored, _ = restore_rows(deleted, pd.concat([a1, a2], ignore_index=True))
    assert_same_table(restored, table)


@pytest.mark.parametrize("batches", [[[3], [3]], [[3], [2], [3]]], ids=["twice", "interleaved"])
def test_defer_same_row_twice_in_the_same_second_restores_the_original(batches) -> None:
    table = valid_table(4)
    out, records = table, []
    for n, lines in enumerate(batches):
        out, rec = defer_rows(out, lines, LAYOUT, reason=f"pass {n}", at=AT)
        records.append(rec)
    restored, _ = restore_rows(out, pd.concat(records, ignore_index=True))
    assert_same_table(restored, table)


def test_defer_same_row_twice_in_different_seconds_restores_the_original() -> None:
    table = valid_table(4)
    once, a1 = defer_rows(table, [3], LAYOUT, reason="first", at=AT)
    twice, a2 = defer_rows(once, [3], LAYOUT, reason="second", at=later(1))
    restored, _ = restore_rows(twice, pd.concat([a1, a2], ignore_index=True))
    assert_same_table(restored, table)


def test_delete_leaves_no_blank_row() -> None:
    table = valid_table(5)
    out, _ = delete_rows(table, [4], reason="test", at=AT)
    assert len(out) == 4
    assert 4 not in out.index
    assert not (out.apply(lambda s: s.str.strip()) == "").all(axis=1).any()
    report, _ = validate_table(out, LAYOUT, BOOK)
    assert report.findings.empty


def test_deferred_rows_keep_everything_but_visit_times() -> None:
    table = valid_table(4)
    out, archive = defer_rows(table, [3, 5], LAYOUT, reason="test", at=AT)
    others = [c for c in table.columns if c not in VISITS]
    assert_same_table(out[others], table[others])
    assert (out.loc[[3, 5], VISITS] == "").all().all()
    assert_same_table(out.loc[[2, 4], VISITS], table.loc[[2, 4], VISITS])
    assert list(out.index) == list(table.index)
    assert archive["action"].tolist() == [DEFER, DEFER]
    assert archive["line"].tolist() == [3, 5]
    assert archive[VISIT_START].tolist() == [table.at[3, VISIT_START], table.at[5, VISIT_START]]


def test_archive_records_carry_the_whole_row_and_why() -> None:
    table = valid_table(3)
    _, archive = delete_rows(table, [3], reason="duplicate", at=AT, source="f.csv", month="2025-03")
    record = archive.iloc[0]
    assert record["action"] == DELETE
    assert record["reason"] == "duplicate"
    assert record["archived_at"] == "2026-11-02T09:30:00"
    assert (record["line"], record["source"], record["month"]) == (3, "f.csv", "2025-03")
    assert [record[c] for c in HEADER] == table.loc[3, HEADER].tolist()


@pytest.mark.parametrize("action", ["delete", "defer"])
def test_unknown_line_raises(action: str) -> None:
    table = valid_table(3)
    with pytest.raises(PmpmInputError, match="Line"):
        if action == "delete":
            delete_rows(table, [3, 99], reason="x", at=AT)
        else:
            defer_rows(table, [1], LAYOUT, reason="x", at=AT)


def test_deleting_an_already_deleted_line_raises() -> None:
    out, _ = delete_rows(valid_table(3), [3], reason="x", at=AT)
    with pytest.raises(PmpmInputError):
        delete_rows(out, [3], reason="x", at=later(1))


def test_restore_with_empty_archive_is_a_no_op() -> None:
    table = valid_table(3)
    restored, remaining = restore_rows(table, pd.DataFrame())
    assert_same_table(restored, table)
    assert remaining.empty


def test_restoring_a_deletion_twice_raises() -> None:
    table = valid_table(3)
    out, archive = delete_rows(table, [3], reason="x", at=AT)
    restored, _ = restore_rows(out, archive)
    with pytest.raises(PmpmInputError, match="already"):
        restore_rows(restored, archive)


# --- partial restore --------------------------------------------------------------------


def test_partial_restore_by_lines() -> None:
    table = valid_table(6)
    out, a1 = delete_rows(table, [3, 5], reason="x", at=AT)
    out, a2 = defer_rows(out, [2, 7], LAYOUT, reason="y", at=later(1))
    archive = pd.concat([a1, a2], ignore_index=True)

    part, remaining = restore_rows(out, archive, lines=[5, 7])
    assert list(part.index) == [2, 4, 5, 6, 7]
    assert_same_table(part.loc[[5, 7]], table.loc[[5, 7]])
    assert (part.loc[2, VISITS] == "").all()
    assert sorted(remaining["line"]) == [2, 3]

    whole, left = restore_rows(part, remaining)
    assert_same_table(whole, table)
    assert left.empty


def test_partial_restore_of_a_deferred_line_still_deleted_raises() -> None:
    table = valid_table(4)
    out, a1 = defer_rows(table, [3], LAYOUT, reason="x", at=AT)
    out, a2 = delete_rows(out, [3], reason="y", at=later(1))
    archive = pd.concat([a1, a2], ignore_index=True)
    with pytest.raises(PmpmInputError, match="no longer"):
        restore_rows(out, archive[archive["action"] == DEFER])


def test_restore_from_the_archive_files_on_disk(tmp_path: Path) -> None:
    table = SAMPLE_TABLE
    out, a1 = delete_rows(table, [5, 40], reason="x", at=AT)
    out, a2 = defer_rows(out, [7, 41], LAYOUT, reason="y", at=later(1))
    files.write_archive(tmp_path, a1, DELETE, AT)
    files.write_archive(tmp_path, a2, DEFER, later(1))
    archive = files.read_archive(tmp_path)
    assert len(archive) == 4
    restored, remaining = restore_rows(out, archive)
    assert_same_table(restored, table)
    assert remaining.empty


# --- any sequence of actions (hypothesis) ------------------------------------------------


@st.composite
def action_sequences(draw: st.DrawFn) -> list[tuple[str, list[int]]]:
    present = list(SAMPLE_TABLE.index)
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        if not present:
            break
        kind = draw(st.sampled_from([DELETE, DEFER]))
        chosen = draw(st.lists(st.sampled_from(present), min_size=1, max_size=8, unique=True))
        steps.append((kind, chosen))
        if kind == DELETE:
            present = [n for n in present if n not in chosen]
    return steps


def run_actions(table: pd.DataFrame, steps: list[tuple[str, list[int]]]):
    records = []
    for n, (kind, chosen) in enumerate(steps):
        if kind == DELETE:
            table, rec = delete_rows(table, chosen, reason=f"step {n}", at=later(n))
        else:
            table, rec = defer_rows(table, chosen, LAYOUT, reason=f"step {n}", at=later(n))
        records.append(rec)
    return table, pd.concat(records, ignore_index=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=action_sequences())
def test_any_sequence_of_actions_restores_to_the_original(steps) -> None:
    out, archive = run_actions(SAMPLE_TABLE, steps)
    restored, remaining = restore_rows(out, archive)
    assert_same_table(restored, SAMPLE_TABLE)
    assert remaining.empty


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=action_sequences(), data=st.data())
def test_restore_in_two_parts_by_line_restores_to_the_original(steps, data) -> None:
    out, archive = run_actions(SAMPLE_TABLE, steps)
    lines = sorted(set(archive["line"]))
    first = data.draw(st.lists(st.sampled_from(lines), unique=True), label="first lines")
    part, remaining = restore_rows(out, archive, lines=first)
    assert set(remaining["line"]) == set(lines) - set(first)
    restored, left = restore_rows(part, remaining)
    assert_same_table(restored, SAMPLE_TABLE)
    assert left.empty


# --- suggestions on the bundled sample ---------------------------------------------------


def test_sample_has_errors_and_at_risk_rows_to_start_with() -> None:
    summary = SAMPLE.validation.summary()
    assert not SAMPLE.validation.valid
    assert summary["tier-at-risk"] > 0


def test_suggest_actions_deletes_error_rows_and_defers_at_risk_rows() -> None:
    actions = workflow.suggest_review(SAMPLE, LAYOUT, BOOK)
    assert actions["line"].is_unique
    assert list(actions["line"]) == sorted(actions["line"])
    errors = SAMPLE.validation.errors
    row_errors = errors[errors["row"].notna() & (errors["row"] > 1)]
    error_lines = set(row_errors["row"].astype(int))
    dups = row_errors[row_errors["code"] == "duplicate-member"]
    only_dup = set(dups["row"].astype(int)) - set(
        row_errors.loc[row_errors["code"] != "duplicate-member", "row"].astype(int)
    )
    kept = {int(r) for r in dups.groupby("value")["row"].min()} & only_dup
    assert kept, "the sample has a duplicated member"
    deleted = set(actions.loc[actions["action"] == DELETE, "line"])
    deferred = set(actions.loc[actions["action"] == DEFER, "line"])
    assert deleted == error_lines - kept
    at_risk = set(SAMPLE.flags.index[SAMPLE.flags["at_risk"]])
    assert deferred == at_risk - deleted
    assert actions.loc[actions["action"] == DEFER, "reason"].str.startswith("tier-at-risk +").all()


def test_suggest_actions_keeps_the_first_row_of_a_duplicated_member(tmp_path: Path) -> None:
    rows = valid_rows(4)
    rows[3][PATIENT] = rows[1][PATIENT]  # lines 3 and 5
    checked = check_rows(tmp_path, rows)
    actions = workflow.suggest_actions(
        checked.findings, checked.flags, checked.report.table, LAYOUT, BOOK
    )
    assert actions[["line", "action"]].values.tolist() == [[5, DELETE]]


def test_applying_the_suggestions_leaves_no_error() -> None:
    actions = workflow.suggest_review(SAMPLE, LAYOUT, BOOK)
    table, archive = workflow.apply_actions(SAMPLE_TABLE, actions, LAYOUT, at=AT)
    report, _ = validate_table(table, LAYOUT, BOOK)
    assert report.valid, report.errors.to_string()
    # The sample bills Elderplan, whose own codes the bundled rate table leaves unset.
    assert set(report.warnings["code"]) <= {"payer-codes-unset"}
    assert len(archive) == len(actions)
    restored, _ = restore_rows(table, archive)
    assert_same_table(restored, SAMPLE_TABLE)


# --- any sequence, through the files on disk, on tables with awkward text (issue 6) ------

AWKWARD = st.lists(st.sampled_from(list("ab ,;\"'é0Ł\t") + ["0012", "NA", "=x"]), max_size=8).map(
    "".join
)


@st.composite
def awkward_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 10))
    rows = valid_rows(n)
    for row in rows:
        row["Patient Name"] = draw(AWKWARD)
        row[PATIENT] = draw(st.sampled_from(["", "0012345", "1.2E+11", row[PATIENT]]))
    frame = pd.DataFrame(rows, columns=HEADER, dtype=str)
    frame.index = pd.RangeIndex(2, n + 2, name="line")
    return frame


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=awkward_tables(), data=st.data())
def test_any_actions_restore_exactly_through_the_archive_files(
    tmp_path_factory: pytest.TempPathFactory, table: pd.DataFrame, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("archive")
    present, out = list(table.index), table
    for n in range(data.draw(st.integers(1, 4), label="steps")):
        if not present:
            break
        kind = data.draw(st.sampled_from([DELETE, DEFER]), label="kind")
        chosen = data.draw(st.lists(st.sampled_from(present), min_size=1, unique=True))
        if kind == DELETE:
            out, rec = delete_rows(out, chosen, reason="r", at=later(n))
            present = [p for p in present if p not in chosen]
        else:
            out, rec = defer_rows(out, chosen, LAYOUT, reason="r", at=later(n))
        files.write_archive(folder, rec, kind, later(n))
    restored, remaining = restore_rows(out, files.read_archive(folder))
    assert_same_table(restored, table)
    assert remaining.empty
