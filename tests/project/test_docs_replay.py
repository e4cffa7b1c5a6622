"""The documentation's commands run as written: every `$ xl-pmpm` line of README.md and
docs/*.md, replayed in order in a fresh folder on the shipped inputs (docs/examples/),
with the exit code and the first output lines the text shows (tests/support/doc_replay.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_replay import DOCS, EXAMPLES, argv_of, commands, match, run_document

REPLAYED = [d for d in DOCS if commands(d.read_text(encoding="utf-8"))]


def test_the_docs_have_commands_to_replay() -> None:
    names = {d.name for d in REPLAYED}
    assert {"README.md", "month_cycle.md", "rules.md"} <= names
    assert sum(len(commands(d.read_text(encoding="utf-8"))) for d in REPLAYED) >= 45


def test_every_xl_pmpm_line_is_replayed_or_says_why_not() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        replayed = {c.line for c in commands(text)}
        for i, line in enumerate(text.splitlines()):
            if re.match(r"^\$ (\w+=\S+ )*xl-pmpm ", line) and i not in replayed:
                # shown in a ```text block, in a document that says why
                assert "not replayed" in text, f"{doc.name}:{i + 1}: {line}"


def test_commands_name_their_files_no_globs() -> None:
    for doc in REPLAYED:
        for c in commands(doc.read_text(encoding="utf-8")):
            argv, _, _ = argv_of(c.text)
            assert not any(ch in w for w in argv for ch in "*?"), f"{doc.name}: {c.text}"


def test_the_matcher_skips_and_prefixes() -> None:
    out = ["a", "b", "c", "d e f", "g"]
    assert match(["a", "...", "d e..."], out) is None
    assert match(["a", "c"], out) is not None
    assert match(["...", "g"], out) is None
    assert match(["b"], out) is not None  # the first lines, not any lines


@pytest.mark.slow
@pytest.mark.parametrize("doc", REPLAYED, ids=[d.name for d in REPLAYED])
def test_document_replays(doc: Path, tmp_path: Path) -> None:
    assert EXAMPLES.is_dir()
    failures = [
        f"{doc.name}:{o.command.line + 1}: $ {o.command.text}\n  {o.problem}"
        for o in run_document(doc, tmp_path)
        if o.problem
    ]
    assert not failures, "\n".join(failures)
