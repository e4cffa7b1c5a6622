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
# The workbook (template builder, sheets, VBA) is built from the core's rules and
# vocabulary alone: no files, ledger or readers.
ALLOWED["workbook"] = {"core"}
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


VOCABULARY = PACKAGE / "core" / "vocabulary.py"


def _assignments(path: Path) -> list[tuple[int, str, ast.expr]]:
    """(line, name, value) of every plain name the module binds by assignment, any scope
    (an item assignment such as `frame[LINE] = ...` binds no name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            found += [(node.lineno, n.id, value) for n in names if isinstance(n, ast.Name)]
    return found


VOCABULARY_NAMES = {name for _, name, _ in _assignments(VOCABULARY) if name.isupper()}
# Every word the vocabulary defines: its strings, and the values of its dicts.
VOCABULARY_WORDS = {
    c.value
    for _, name, value in _assignments(VOCABULARY)
    for c in ast.walk(value)
    if isinstance(c, ast.Constant) and isinstance(c.value, str)
}


def test_the_vocabulary_is_defined_in_one_place():
    """The workbook's sheet and table names, its columns and their words (Line, Findings,
    Action, the engine's headers, the hidden sheets) are assigned in core/vocabulary.py
    only; every other module imports them. Outside the core no module binds one of its
    names (an alias such as `ORIGINAL = ORIGINAL_SHEET` is a second name for it), and no
    module anywhere assigns one of its words as a constant of its own. (The core's
    archive words, `review.DELETE = "delete"`, are another vocabulary: the archive's.)"""
    assert {"ALL", "LINE", "FINDINGS", "ACTION", "ORIGINAL_SHEET", "ENGINE_HEADERS"} <= (
        VOCABULARY_NAMES
    )
    assert {"HIDDEN_SHEETS", "RESERVED_SHEETS"} <= VOCABULARY_NAMES
    assert {"All", "Line", "Findings", "Action", "_original", "Tier now"} <= VOCABULARY_WORDS
    twice = []
    for path in MODULES:
        if path == VOCABULARY:
            continue
        in_core = _room(_module_name(path)) == "core"
        for line, name, value in _assignments(path):
            if name in VOCABULARY_NAMES and not in_core:
                twice.append(f"{path.relative_to(PACKAGE)} line {line}: {name}")
            elif isinstance(value, ast.Constant) and value.value in VOCABULARY_WORDS:
                twice.append(f"{path.relative_to(PACKAGE)} line {line}: {name} = {value.value!r}")
    assert twice == [], f"the vocabulary defined outside core/vocabulary.py: {twice}"


def test_the_vocabulary_rule_sees_an_alias_and_a_copied_word(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('ORIGINAL = ORIGINAL_SHEET\nSUMMARY_ROW = "All"\nframe[LINE] = 1\n')
    found = [(name, getattr(value, "value", None)) for _, name, value in _assignments(probe)]
    assert found == [("ORIGINAL", None), ("SUMMARY_ROW", "All")]
    assert "ORIGINAL" not in VOCABULARY_NAMES and "All" in VOCABULARY_WORDS


def test_the_reader_the_builder_and_the_front_end_import_the_vocabulary():
    def importers(room: str) -> list[Path]:
        return [
            p
            for p in MODULES
            if _room(_module_name(p)) == room
            and any(m == "xl_pmpm.core.vocabulary" for _, m in _imports(p))
        ]

    reader = PACKAGE / "io" / "workbook_reader.py"
    assert any(m == "xl_pmpm.core.vocabulary" for _, m in _imports(reader))
    assert importers("workbook") and importers("excel")


# --- the ledger: one package, one object (issue 24) ------------------------------------------

LEDGER = "xl_pmpm.io.ledger"
# Drivers and formats the front ends never touch: the ledger package and io/ speak to them.
FRONT_FORBIDDEN = {"sqlite3", "sqlalchemy", "psycopg", "csv"}


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import, and (line, module.name) of every `from m import name`
    (so `from xl_pmpm.io.ledger import _db` is seen as the submodule it is)."""
    found = list(_imports(path))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_ledger_package_is_imported_never_its_modules(path):
    """Outside io/ledger/ the ledger is the package (`Ledger`, its functions): its modules
    (`_db`, `_records`...) are its own, and so are the old flat io/ledger_*.py names."""
    if _module_name(path).startswith(LEDGER + ".") or _module_name(path) == LEDGER:
        return
    inside = {p.stem for p in (PACKAGE / "io" / "ledger").glob("*.py")} - {"__init__"}
    wrong = [
        f"line {line}: {module}"
        for line, module in _imported_names(path)
        if (module.startswith(LEDGER + ".") and module.split(".")[3] in inside)
        or module.startswith("xl_pmpm.io.ledger_")
    ]
    assert wrong == [], f"{path.relative_to(PACKAGE)} reaches into the ledger package: {wrong}"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _room(_module_name(p)) in ("cli", "excel")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_front_ends_import_no_database_driver_and_no_csv(path):
    """cli/ and excel/ say the ledger's errors through the package (`LedgerUnusable`) and
    read files through io/: no sqlite3, SQLAlchemy, psycopg or csv of their own."""
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] in FRONT_FORBIDDEN
    ]
    assert wrong == [], f"{path.relative_to(PACKAGE)} imports a driver or csv: {wrong}"


def test_the_ledger_package_is_one_folder_and_its_init_imports_no_sqlalchemy():
    folder = PACKAGE / "io" / "ledger"
    assert (folder / "__init__.py").is_file()
    assert not list((PACKAGE / "io").glob("ledger_*.py"))  # no module of it outside it
    modules = {m for _, m in _imports(folder / "__init__.py")}
    assert not {m for m in modules if m.split(".")[0] in {"sqlalchemy", "psycopg"}}
    # what __init__ imports eagerly imports no SQLAlchemy either (the lazy rest: PEP 562)
    eager = {m for m in modules if m.startswith(LEDGER + ".")}
    for module in eager:
        text = (PACKAGE.parent / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        top = [
            node for node in ast.parse(text).body if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] in {"sqlalchemy", "psycopg"}], module
