"""`xl-pmpm install`: a workbook copy whose xlwings.conf sheet names the interpreter."""

from __future__ import annotations

import stat
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from xl_pmpm.cli import app as cli
from xl_pmpm.cli import install

REL_UI = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"


def _conf(path: Path) -> dict[str, object]:
    wb = openpyxl.load_workbook(path)
    rows = list(wb["xlwings.conf"].iter_rows(values_only=True))
    wb.close()
    keys = [r[0] for r in rows]
    # xlwings reads column A down to the first blank: no gaps allowed.
    assert None not in keys
    return {r[0]: r[1] for r in rows}


def test_windows_copy_names_the_interpreter(tmp_path: Path, capsys) -> None:
    python = r"C:\Users\biller\pmpm\Scripts\python.exe"
    code = cli.main(["install", "--platform", "windows", "--python", python, "--to", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    book = tmp_path / install.WORKBOOK_NAME
    assert book.exists()
    assert stat.S_IMODE(book.stat().st_mode) == 0o644  # the empty template holds no member data
    conf = _conf(book)
    assert conf["Interpreter_Win"] == python
    assert conf["UDF Modules"] == "xl_pmpm.excel.udfs"
    assert "Enable Content" in out and str(book) in out
    with zipfile.ZipFile(book) as z:
        assert REL_UI in z.read("_rels/.rels").decode()
        assert "xl/vbaProject.bin" in z.namelist()


def test_a_second_install_never_overwrites(tmp_path: Path) -> None:
    args = ["install", "--platform", "mac", "--python", "/opt/py/bin/python3", "--to"]
    assert cli.main([*args, str(tmp_path)]) == 0
    first = (tmp_path / install.WORKBOOK_NAME).read_bytes()
    assert cli.main([*args, str(tmp_path)]) == 0
    assert (tmp_path / install.WORKBOOK_NAME).read_bytes() == first
    second = tmp_path / "PMPM_Tier_Report-2.xlsm"
    assert _conf(second)["Interpreter_Mac"] == "/opt/py/bin/python3"


def test_mac_helper_is_installed_only_on_a_mac(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(install, "enable_runpython_on_mac", lambda: calls.append("x"))
    monkeypatch.setattr(install, "current_platform", lambda: "windows")
    install.install_workbook(tmp_path, "mac", "/usr/bin/python3")
    assert calls == []
    monkeypatch.setattr(install, "current_platform", lambda: "mac")
    result = install.install_workbook(tmp_path, "mac", "/usr/bin/python3")
    assert calls == ["x"]
    assert any("AppleScript" in line for line in result.done)


def test_without_excel_it_says_where_to_run_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(install, "current_platform", lambda: None)
    assert cli.main(["install", "--to", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Excel does not run on this system" in err and "--platform" in err
    assert not list(tmp_path.iterdir())


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(install.PmpmInputError, match="Unknown platform"):
        install.interpreter_settings("linux", "/usr/bin/python3")


def test_install_refuses_another_platforms_interpreter_without_python(tmp_path, capsys):
    """This Python cannot be the interpreter of another computer: say so, write nothing."""
    other = "windows" if sys.platform != "win32" else "mac"
    assert cli.main(["install", "--platform", other, "--to", str(tmp_path)]) == 2
    assert "--python" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
