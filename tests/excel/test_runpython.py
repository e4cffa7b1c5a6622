"""Every ribbon button, run the way Excel runs it.

xlwings' ``RunPython`` (``xlwings.bas``, ``ExecuteWindows``; the Mac path builds the
same) starts ``python -B -c "import xlwings.utils;xlwings.utils.prepare_sys_path(\\"…\\");
<string>"`` and binds nothing else. These tests take every RunPython string out of the
*built* workbook's VBA (read back by oletools, not from macros/), run it in a subprocess
in exactly that form, with ``xw.Book.caller()`` answering the test harness's book made
from the same workbook, and check what the action did to that book.

The one thing added to the subprocess is a ``sitecustomize`` module (on PYTHONPATH)
that points ``Book.caller`` at the harness book and records the book's actions at
exit: it stands in for Excel, not for any part of the command line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from excel_harness import ExcelHarness, mark_actions
from test_frontend import column, step, template_bytes, workbook

from xl_pmpm.core.vocabulary import ENGINE_HEADERS
from xl_pmpm.excel import frontend as fe
from xl_pmpm.workbook import macros
from xl_pmpm.workbook.actions import BUTTONS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser

HARNESS = Path(__file__).resolve().parents[1] / "harness"
CALLBACK = re.compile(r'^Sub (\w+)\(control As IRibbonControl\)\s*\n\s*RunPython "([^"]*)"', re.M)
SITECUSTOMIZE = textwrap.dedent(
    """
    # Stands in for Excel: Book.caller() is the harness book; its actions go to a file.
    import atexit, json, os, sys
    os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"  # the test path's remote engine
    sys.path.insert(0, os.environ["XL_PMPM_TESTS"])
    import xlwings as xw
    from excel_harness import open_book

    with open(os.environ["XL_PMPM_CALLER"], encoding="utf-8") as fh:
        _book = open_book(json.load(fh))
    xw.Book.caller = classmethod(lambda cls: _book)

    @atexit.register
    def _save():
        with open(os.environ["XL_PMPM_ACTIONS"], "w", encoding="utf-8") as fh:
            json.dump(_book.json(), fh, default=str)
    """
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("book") / "PMPM_Tier_Report.xlsm"
    path.write_bytes(template_bytes())
    return path


@pytest.fixture(scope="module")
def run_python_strings(built: Path) -> dict[str, str]:
    """{button label: its RunPython string}, read back from the built workbook by olevba."""
    parser = VBA_Parser(str(built))
    modules = {s.split("/")[-1]: code for _f, s, _n, code in parser.extract_macros()}
    parser.close()
    callbacks = dict(CALLBACK.findall(modules[macros.RIBBON_MODULE].replace("\r\n", "\n")))
    return {b.label: callbacks[b.callback] for b in BUTTONS}


def run_as_excel_does(
    built: Path, string: str, payload: dict, tmp_path: Path, excel: ExcelHarness
) -> dict:
    """Run `string` as xlwings' RunPython does, the caller's book being `payload`."""
    hook = tmp_path / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    caller, actions = tmp_path / "caller.json", tmp_path / "actions.json"
    caller.write_text(json.dumps(payload, default=str), encoding="utf-8")
    # What xlwings.bas passes prepare_sys_path: add the workbook's folder; the active and
    # this workbook's full names; the OneDrive/SharePoint settings; PYTHONPATH (blank).
    sys_path = f"true;{built};{built};;;;"
    command = f'import xlwings.utils;xlwings.utils.prepare_sys_path("{sys_path}"); {string}'
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLWINGS_LICENSE_KEY")},
        "PYTHONPATH": str(hook),
        "XL_PMPM_TESTS": str(HARNESS),
        "XL_PMPM_CALLER": str(caller),
        "XL_PMPM_ACTIONS": str(actions),
    }
    done = subprocess.run(
        [sys.executable, "-B", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return excel.replay(payload, json.loads(actions.read_text(encoding="utf-8")))


def test_every_button_has_a_string_that_binds_what_it_names(run_python_strings) -> None:
    assert set(run_python_strings) == {b.label for b in BUTTONS}
    for b in BUTTONS:
        assert run_python_strings[b.label] == b.run_python
        assert '"' not in b.run_python  # the Windows command line wraps it in double quotes
        assert callable(getattr(fe, b.function))


@pytest.fixture
def loaded(excel: ExcelHarness, tmp_path: Path) -> dict:
    payload, _ = workbook(excel, tmp_path / "month", 60, mangle=False, below_minimum=False)
    payload, _ = step(excel, payload, fe.load_extract)
    return payload


def _alerts(before: dict, after: dict) -> list[str]:
    return [a["prompt"] for a in after.get("_alerts", [])[len(before.get("_alerts", [])) :]]


def test_load_extract(built, run_python_strings, excel, tmp_path) -> None:
    payload, path = workbook(excel, tmp_path / "month", 40)
    after = run_as_excel_does(built, run_python_strings["Load Extract"], payload, tmp_path, excel)
    frame = excel.sheet_frame(after, "All")
    assert len(frame) == 42 and frame["Line"].tolist()[:3] == [2, 3, 4]
    assert "Loaded 42 rows" in _alerts(payload, after)[-1]


def test_refresh_flags(built, run_python_strings, excel, tmp_path, loaded) -> None:
    tier = ENGINE_HEADERS["tier"]
    position = column(loaded, "All", tier)
    for row in next(s for s in loaded["sheets"] if s["name"] == "All")["values"][1:]:
        row[position] = None
    after = run_as_excel_does(built, run_python_strings["Refresh Flags"], loaded, tmp_path, excel)
    assert excel.sheet_frame(after, "All")[tier].notna().sum() >= 55


def test_validate(built, run_python_strings, excel, tmp_path, loaded) -> None:
    after = run_as_excel_does(built, run_python_strings["Validate"], loaded, tmp_path, excel)
    assert list(excel.sheet_frame(after, "Validation").columns[:3]) == ["Code", "Severity", "Row"]
    assert _alerts(loaded, after)[-1].endswith("see the Validation sheet")


def test_delete_rows(built, run_python_strings, excel, tmp_path, loaded) -> None:
    marked = mark_actions(loaded, {5: "Delete", 7: "Delete"})
    after = run_as_excel_does(built, run_python_strings["Delete Rows"], marked, tmp_path, excel)
    assert not {5, 7} & set(excel.sheet_frame(after, "All")["Line"])
    assert excel.sheet_frame(after, "Deferred")["Line"].astype(int).tolist() == [5, 7]


def test_defer_then_restore(built, run_python_strings, excel, tmp_path, loaded) -> None:
    marked = mark_actions(loaded, {9: "Defer"})
    deferred = run_as_excel_does(
        built, run_python_strings["Defer Rows"], marked, tmp_path / "defer", excel
    )
    row = excel.sheet_frame(deferred, "All").set_index("Line").loc[9]
    assert row[["Visit Start Time", "Visit End Time"]].isna().all()
    restored = run_as_excel_does(
        built, run_python_strings["Restore"], deferred, tmp_path / "restore", excel
    )
    row = excel.sheet_frame(restored, "All").set_index("Line").loc[9]
    assert row[["Visit Start Time", "Visit End Time"]].notna().all()
    assert excel.sheet_values(restored, "Deferred")[1:] == []


def test_export_history_and_kpis(built, run_python_strings, excel, tmp_path, loaded) -> None:
    exported = run_as_excel_does(
        built, run_python_strings["Export"], loaded, tmp_path / "export", excel
    )
    files = list((tmp_path / "month" / "exports").glob("*.csv"))
    assert files, _alerts(loaded, exported)
    history = run_as_excel_does(
        built, run_python_strings["History"], exported, tmp_path / "history", excel
    )
    assert len(excel.sheet_frame(history, "Export History")) >= 55
    kpis = run_as_excel_does(built, run_python_strings["KPIs"], history, tmp_path / "kpi", excel)
    assert _alerts(history, kpis)[-1].startswith("KPIs of 1 month(s)")


def test_help(built, run_python_strings, excel, tmp_path) -> None:
    payload, _ = workbook(excel, tmp_path / "month", 1)
    after = run_as_excel_does(built, run_python_strings["Help"], payload, tmp_path, excel)
    assert after["book"]["active_sheet_index"] == [s["name"] for s in after["sheets"]].index("Help")
