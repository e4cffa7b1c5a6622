"""The Excel front end's three rooms (issue 28): the sheet toolkit, the sheets the buttons
read and write (Settings; All, the contract sheets, Deferred, Validation), the buttons.

Each room imports only the rooms before it, and none is over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import xl_pmpm.excel

EXCEL = Path(xl_pmpm.excel.__file__).parent
# Each module of the front end and the front-end modules it may import.
MAY_IMPORT = {
    "toolkit": set(),
    "settings_sheet": {"toolkit"},
    "report": {"toolkit", "settings_sheet"},
    "paid": {"toolkit", "settings_sheet"},
    "frontend": {"toolkit", "settings_sheet", "report", "paid"},
    "udfs": set(),
    "lite_main": {"frontend", "udfs"},
}


def _excel_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "xl_pmpm.excel":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("xl_pmpm.excel."):
                found.add(node.module.removeprefix("xl_pmpm.excel."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xl_pmpm.excel."):
                    found.add(alias.name.removeprefix("xl_pmpm.excel."))
    return found


def test_each_room_imports_only_the_rooms_before_it() -> None:
    modules = {p.stem: p for p in EXCEL.glob("*.py") if p.stem != "__init__"}
    assert set(modules) == set(MAY_IMPORT), "a new module: give it its room here"
    for name, path in modules.items():
        assert _excel_imports(path) <= MAY_IMPORT[name], name


def test_no_module_of_the_front_end_is_over_600_lines() -> None:
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in EXCEL.glob("*.py")}
    assert max(lengths.values()) <= 600, lengths
