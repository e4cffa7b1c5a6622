"""Every VBA module of every workbook the project writes compiles: MS-VBAL's grammar
(PyPI ``antlr4-vba``) parses it, per platform, after conditional compilation.

A module with a syntax error fails as a whole when any of its procedures is first
called: one reserved word as a parameter name (``end``) and every ``=PMPM_...`` cell
shows an error. xlwings' own generator copies Python's argument names verbatim, so the
project's generator refuses reserved words, and this test reads back what was written.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from vba_grammar import PLATFORMS, exported_form, syntax_errors

from benchmarks import sample
from xl_pmpm.cli import app as cli
from xl_pmpm.io import files
from xl_pmpm.workbook import macros, template
from xl_pmpm.workbook.actions import CELL_FUNCTIONS, Arg, CellFunction
from xl_pmpm.workbook.vba.reserved import RESERVED_IDENTIFIERS, is_reserved

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser

# Windows (64-bit) and Mac: the branches of xlwings' #If Mac / #If Win64.
TESTED = ("windows-64", "mac")


def _modules(path: Path) -> dict[str, str]:
    parser = VBA_Parser(str(path))
    try:
        return {s.split("/")[-1]: code for _f, s, _n, code in parser.extract_macros()}
    finally:
        parser.close()


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """{workbook: {module: stored source}} of every workbook the project writes."""
    tmp = tmp_path_factory.mktemp("books")
    layout, book = files.load_layout(), files.load_rate_book()
    out = {
        "template": _modules(
            Path(__file__).resolve().parents[2] / "workbook_templates" / "PMPM_Tier_Report.xlsm"
        )
    }
    assert cli.main(["demo", "--out", str(tmp / "demo")]) == 0
    (demo,) = (tmp / "demo").glob("*.xlsm")
    out["demo"] = _modules(demo)
    rows = sample.generate_extract(12, "2025-03", layout, book, mangle=False)
    out["filled"] = _modules(template.build_template(tmp / "f.xlsm", layout, book, rows=rows))
    # An add-in (.xlam) calls its wrappers on ActiveWorkbook: the generator's other text.
    out["xlam"] = {macros.UDF_MODULE_NAME: macros.udf_module("PMPM.xlam")}
    return out


@pytest.mark.slow
def test_every_module_of_every_workbook_parses_on_windows_and_mac(
    workbooks: dict[str, dict[str, str]],
) -> None:
    distinct: dict[str, list[str]] = {}  # the same text in several books is parsed once
    for book, modules in workbooks.items():
        assert modules, book
        for name, source in modules.items():
            distinct.setdefault(source, []).append(f"{book}/{name}")
    assert {"PMPM_Ribbon", "xlwings_udfs", "xlwings", "Dictionary", "wsAll"} <= set(
        workbooks["template"]
    )
    failures = {}
    for source, where in distinct.items():
        for platform in TESTED:
            errors = syntax_errors(exported_form(source), PLATFORMS[platform])
            if errors:
                failures[f"{where[0]} ({platform})"] = errors[:2]
    assert failures == {}


def test_the_grammar_refuses_a_reserved_parameter_name() -> None:
    """The check is real: the wrapper text xlwings wrote for ``end`` does not parse."""
    bad = CellFunction("PMPM_X", "units_column", (Arg("start"), Arg("end")), "", "", "")
    text = macros.udf_module().replace("first_day, last_day", "start, end")
    assert "(start, end)" in text
    assert syntax_errors(text, PLATFORMS["windows-64"])
    assert syntax_errors(macros.udf_module(), PLATFORMS["windows-64"]) == []
    with pytest.raises(ValueError, match="'end' is a reserved word in VBA"):
        macros.udf_module(functions=(bad,))


def test_xlwings_own_generated_text_parses_for_the_same_table() -> None:
    """Conditional compilation resolved both ways: the #Else branch parses too."""
    text = macros.udf_module()
    for platform in PLATFORMS.values():
        assert syntax_errors(text, {**platform, "App": "Microsoft Word"}) == []


def test_no_generated_procedure_has_a_reserved_parameter() -> None:
    assert {"end", "date", "string", "input", "type"} <= RESERVED_IDENTIFIERS
    for f in CELL_FUNCTIONS:
        assert not is_reserved(f.name), f.name
        for a in f.args:
            assert not is_reserved(a.name), f"{f.name}({a.name})"
            assert a.name in macros.udf_module(), a.name
