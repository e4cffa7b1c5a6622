"""Replay the `$ ...` command lines of the documentation, as a reader would type them.

Every fenced block of README.md and docs/*.md is replayed, in order, in a fresh folder
per document holding a copy of the shipped inputs: the files of docs/examples/ and of
docs/examples/<document>/ (everything else a command reads is made by a command before
it). Each command's exit code and its first
output lines (stdout and stderr, as a terminal shows them) are compared with the text:

- a command line ending in `# exit N` expects exit N, any other exit 0;
- the output lines written under a command must be what it prints first; a line `...`
  skips lines (the lines after it must follow, in order, later), a line ending in `...`
  needs only its beginning to match;
- a file name with a time stamp in a command is the one file of that pattern an
  earlier command made in this run (the text shows the name it printed then);
- timestamps (`20261123T115035`, `2026-11-28T15:33`) match any timestamp, the run's
  folder is left out of paths, and today's date matches the date the document was
  replayed on (its `<!-- replayed YYYY-MM-DD -->` line).

Blocks that cannot be replayed here (a second export running at the same moment, a
PostgreSQL server) are ```text blocks: shown, not replayed.

`python tests/support/doc_replay.py FILE...` replays documents and reports; with `--write` it
rewrites the output of each command that differs, in place, from a real run (as many
lines as the text showed, else 12) and records the date: review the diff.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPLAYED = re.compile(r"<!-- replayed (\d{4}-\d{2}-\d{2}) -->")
STAMP = re.compile(r"\d{8}T\d{6}(?:-\d+)?")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
MAX_SHOWN = 12


@dataclass
class Command:
    line: int  # the `$ ` line's index in the document (0-based)
    text: str  # after `$ `
    shown: list[str] = field(default_factory=list)  # the output lines under it

    @property
    def exit(self) -> int:
        m = EXIT.search(self.text)
        return int(m.group(1)) if m else 0


def commands(text: str) -> list[Command]:
    """The `$ ` commands of the document's fenced blocks (but ```text ones), with their
    output lines."""
    found: list[Command] = []
    fenced = inside = False
    current: Command | None = None
    for i, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            fenced = not fenced
            inside = fenced and line.strip() != "```text"
            current = None
            continue
        if not inside:
            continue
        if line.startswith("$ "):
            current = Command(i, line[2:])
            found.append(current)
        elif current is not None:
            current.shown.append(line)
    for c in found:
        while c.shown and not c.shown[-1].strip():
            c.shown.pop()
    return found


def argv_of(text: str) -> tuple[list[str], dict[str, str], str | None]:
    """argv, environment assignments and a `< FILE` of a command line."""
    words = shlex.split(EXIT.sub("", text), comments=True)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    stdin = None
    if "<" in words:
        at = words.index("<")
        stdin = words[at + 1]
        del words[at : at + 2]
    if words and words[0] == "xl-pmpm":
        words = [sys.executable, "-m", "xl_pmpm.cli", *words[1:]]
    return words, env, stdin


@dataclass
class Outcome:
    command: Command
    code: int
    lines: list[str]  # as printed, the run's folder left out
    problem: str | None


def run_document(path: Path, workdir: Path | None = None) -> list[Outcome]:
    """Replay `path`'s commands in a fresh folder holding docs/examples/."""
    text = path.read_text(encoding="utf-8")
    found = REPLAYED.search(text)
    doc_day = found.group(1) if found else date.today().isoformat()
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="doc-replay-")) if own else workdir
    try:
        for item in EXAMPLES.glob("*") if EXAMPLES.is_dir() else []:
            if item.is_file():  # shared by every document
                shutil.copy2(item, folder / item.name)
        own_inputs = EXAMPLES / path.stem  # this document's own (docs/examples/rules/)
        if own_inputs.is_dir():
            shutil.copytree(own_inputs, folder, dirs_exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("XL_PMPM_LEDGER", "PGPASSWORD", "COLUMNS")
        }
        home = folder / ".home"  # the default ledger's data folder, never the user's
        env |= {
            "PYTHONPATH": str(ROOT),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "APPDATA": str(home / "AppData" / "Roaming"),
            "LOCALAPPDATA": str(home / "AppData" / "Local"),
            "PYTHONIOENCODING": "utf-8",
            "COLUMNS": "100",
        }
        return [_run(c, folder, env, doc_day) for c in commands(text)]
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def _run(c: Command, folder: Path, env: dict[str, str], doc_day: str) -> Outcome:
    argv, extra, stdin = argv_of(c.text)
    argv = [argv[0], *(_made(word, folder) for word in argv[1:])]
    feed = (folder / stdin).read_bytes() if stdin else None
    proc = subprocess.run(
        argv,
        cwd=folder,
        env={**env, **extra},
        input=feed,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=600,
    )
    out = proc.stdout.decode("utf-8", "replace")
    out = out.replace(str(folder.resolve()) + os.sep, "").replace(str(folder) + os.sep, "")
    lines = out.splitlines()
    problem = None
    if proc.returncode != c.exit:
        problem = f"exit {proc.returncode}, the text says {c.exit}"
    else:
        shown = [normal(x, doc_day, today=False) for x in c.shown]
        problem = match(shown, [normal(x, doc_day) for x in lines])
    return Outcome(c, proc.returncode, [x.rstrip() for x in lines], problem)


def _made(word: str, folder: Path) -> str:
    """A file name with a time stamp (`work/october_reviewed_20261123T115035.csv`, as a
    command before printed it) is the one file that command made in this run."""
    if not STAMP.search(word) or (folder / word).exists():
        return word
    found = sorted(folder.glob(STAMP.sub("*", word)))
    return str(found[0].relative_to(folder)) if len(found) == 1 else word


def normal(line: str, doc_day: str, today: bool = True) -> str:
    line = TIME.sub("<TIME>", line.rstrip())
    line = STAMP.sub("<STAMP>", line)
    return line.replace(date.today().isoformat(), doc_day) if today else line


def match(shown: list[str], actual: list[str]) -> str | None:
    """None when `actual` begins as `shown` says (with `...` skips), else what differs."""
    segments: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == "...":
            segments.append([])
        else:
            segments[-1].append(line)
    at = 0
    for n, segment in enumerate(segments):
        if not segment:
            continue
        if n == 0:
            start = 0 if _fits(segment, actual, 0) else None
        else:
            start = next(
                (k for k in range(at, len(actual) - len(segment) + 1) if _fits(segment, actual, k)),
                None,
            )
        if start is None:
            near = actual[at : at + len(segment)] if n == 0 else actual[at:][:8]
            return (
                "printed:\n    "
                + "\n    ".join(near)
                + "\n  the text says:\n    "
                + ("\n    ".join(segment))
            )
        at = start + len(segment)
    return None


def _fits(segment: list[str], actual: list[str], k: int) -> bool:
    if k + len(segment) > len(actual):
        return False
    for want, got in zip(segment, actual[k:], strict=False):
        if want.endswith("...") and want.strip() != "...":
            if not got.startswith(want[:-3]):
                return False
        elif want != got:
            return False
    return True


def rewrite(path: Path) -> int:
    """Rewrite each command's output under it from a real run; return commands changed."""
    text = path.read_text(encoding="utf-8")
    today = date.today().isoformat()
    lines = text.splitlines()
    outcomes = run_document(path)
    changed = 0
    for o in reversed(outcomes):
        c = o.command
        if o.problem is None:
            continue
        changed += 1
        keep = len(c.shown) if c.shown else MAX_SHOWN  # as many lines as the text showed
        new_out = o.lines[:keep]
        if len(o.lines) > keep:
            new_out.append("...")
        head = EXIT.sub("", c.text)
        head = f"$ {head}" + (f"  # exit {o.code}" if o.code else "")
        end = c.line + 1 + len(c.shown)
        lines[c.line : end] = [head, *new_out]
    body = REPLAYED.sub(f"<!-- replayed {today} -->", "\n".join(lines)) + "\n"
    if not REPLAYED.search(body):
        body = body.rstrip("\n") + f"\n\n<!-- replayed {today} -->\n"
    path.write_text(body, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="documents (default: all)")
    ap.add_argument("--write", action="store_true", help="rewrite the outputs from a real run")
    args = ap.parse_args(argv)
    failed = 0
    for path in args.files or DOCS:
        if args.write:
            print(f"{path}: {rewrite(path)} command(s) rewritten")
            continue
        for o in run_document(path):
            if o.problem:
                failed += 1
                print(f"{path}:{o.command.line + 1}: $ {o.command.text}\n  {o.problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
