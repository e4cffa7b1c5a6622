"""The package's folders are its architecture: each room imports only the rooms before it.

Every import of every module is read with ast (module level and inside functions),
relative ones resolved, so a lazy import cannot hide a wrong-way edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "xl_pmpm"
ROOMS = ("core", "io", "workbook", "excel", "cli")
# What a room may import besides the standard library and its own room.
ALLOWED = {room: set(ROOMS[:i]) for i, room in enumerate(ROOMS)}
# Third-party libraries the core must never touch (it holds rules over tables only).
CORE_FORBIDDEN = {
    "xlwings",
    "openpyxl",
    "sqlite3",
    "sqlalchemy",
    "psycopg",
    "filelock",
    "olefile",
    "defusedxml",
}
TOP_LEVEL_FILES = {"__init__.py", "__main__.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from xl_pmpm import core` names a room too
            found += [
                (node.lineno, f"{module}.{a.name}") for a in node.names if module == "xl_pmpm"
            ]
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "xl_pmpm" or len(parts) < 2:
        return None
    return parts[1]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "macros" not in p.parts)


def test_no_module_is_loose_at_the_top():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in TOP_LEVEL_FILES]
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name[0] not in "._"} >= set(ROOMS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_rooms(path):
    room = _room(_module_name(path))
    if room not in ROOMS:
        return  # __init__ / __main__ at the top: the entry points
    wrong = []
    for line, module in _imports(path):
        target = _room(module)
        if target in ROOMS and target != room and target not in ALLOWED[room]:
            wrong.append(f"line {line}: {module}")
        if room == "core" and module.split(".")[0] in CORE_FORBIDDEN:
            wrong.append(f"line {line}: {module} (the core holds no Excel, files or database)")
    assert wrong == [], f"{path.relative_to(PACKAGE)} imports against the rooms: {wrong}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The parser itself: an import inside a function and a relative one are both found."""
    sample = PACKAGE / "core" / "_probe_for_test.py"
    text = "def f():\n    from ..io import files\n    import xlwings\n"
    tree_imports = []
    sample_path = tmp_path / "probe.py"
    sample_path.write_text(text)
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom | ast.Import):
            tree_imports.append(node)
    assert len(tree_imports) == 2
    # resolved as if the file sat in core/
    original = _module_name
    try:
        globals()["_module_name"] = lambda p: "xl_pmpm.core._probe_for_test"
        found = [m for _, m in _imports(sample_path)]
    finally:
        globals()["_module_name"] = original
    assert "xl_pmpm.io" in found and "xlwings" in found
    assert not sample.exists()
