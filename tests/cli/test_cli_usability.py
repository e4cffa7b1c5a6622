"""The command line as its users expect it: output any console can take, help with a
description and an example on every command, commands in the month's order, "did you
mean" on a typo, `-` for standard input, progress only on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import extract_fixture, no_env_ledger_fixture, run  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ZWSP = "\u200b"


def _cli(args: list[str], cwd: Path, stdin: bytes | None = None, **env: str):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environ.pop("XL_PMPM_LEDGER", None)
    return subprocess.run(
        [sys.executable, "-m", "xl_pmpm.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=environ,
        timeout=120,
    )


@pytest.fixture(name="hidden_char")
def hidden_char_fixture(extract: Path, tmp_path: Path) -> Path:
    """The extract with a zero-width space in one Patient Number."""
    lines = extract.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    at = header.index("Patient Number")
    cells[at] = cells[at] + ZWSP
    lines[1] = ",".join(cells)
    path = tmp_path / "hidden.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_json_to_a_file_under_a_cp1252_console_holds_every_value(
    hidden_char: Path, tmp_path: Path, encoding: str
) -> None:
    args = ["validate", str(hidden_char), "--as-of", "2026-11-05", "--format", "json"]
    proc = _cli(args, tmp_path, PYTHONIOENCODING=encoding)
    assert proc.returncode == 1, proc.stderr.decode()
    payload = json.loads(proc.stdout.decode("ascii"))  # pure ASCII: escapes, not cp1252 bytes
    values = [f["value"] for f in payload["errors"] if f["code"] == "invisible-character"]
    assert values and ZWSP in values[0]
    text = _cli(args[:-2], tmp_path, PYTHONIOENCODING=encoding)  # the text report too
    assert text.returncode == 1 and b"invisible-character" in text.stdout


def test_json_on_a_utf8_stream_keeps_the_characters(hidden_char: Path, tmp_path: Path) -> None:
    args = ["validate", str(hidden_char), "--as-of", "2026-11-05", "--format", "json"]
    proc = _cli(args, tmp_path, PYTHONIOENCODING="utf-8")
    assert proc.returncode == 1
    assert ZWSP.encode() in proc.stdout
    assert json.loads(proc.stdout.decode("utf-8"))["valid"] is False


def _commands(parser, prefix=()):
    """Every command's parser, nested ones (`ledger init`) included, with its words."""
    from xl_pmpm.cli.parser import commands_of

    commands = commands_of(parser)
    for name, sub in commands.choices.items() if commands else []:
        yield (*prefix, name), sub
        yield from _commands(sub, (*prefix, name))


def test_every_command_has_a_description_an_example_and_argument_help() -> None:
    import shlex

    from xl_pmpm.cli.app import build_parser

    parser = build_parser()
    seen = list(_commands(parser))
    assert len(seen) >= 20
    for words, sub in seen:
        text = sub.format_help()
        assert sub.description and len(sub.description) > 30, words
        assert "Example:\n  $ xl-pmpm " + " ".join(words) in text, words
        for line in text.split("Example:\n", 1)[1].splitlines():
            if line.startswith("  $ "):  # each example is a command line the parser takes
                example = shlex.split(line[4:].replace("\\", "/"))
                assert example[0] == "xl-pmpm"
                assert parser.parse_args(example[1:]).func, line
        for action in sub._actions:
            if not action.option_strings and action.dest != "help":
                assert action.help, (words, action.dest)


def test_help_lists_the_commands_in_the_months_order(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        from xl_pmpm.cli.app import main

        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    at = {name: out.index(f"\n  {name} ") for name in ("demo", "validate", "review", "export")}
    assert at["demo"] < at["validate"] < at["review"] < at["export"]
    assert "Start here:" in out and "The month, in order:" in out


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["valdate", "x.csv"], "did you mean 'validate'?"),
        (["carryover"], "did you mean 'carry-over'?"),
        (["ledger", "intt"], "did you mean 'init'?"),
        (["tier", "3", "--format", "jsn"], "did you mean 'json'?"),
    ],
)
def test_a_typo_gets_did_you_mean_not_the_whole_list(capsys, argv, suggestion) -> None:
    from xl_pmpm.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert suggestion in err
    assert "service-setup" not in err  # not all the commands


def test_no_command_prints_the_help_and_exits_2(capsys) -> None:
    from xl_pmpm.cli.app import main

    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 2 and "The month, in order:" in capsys.readouterr().err


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_dash_reads_the_report_from_standard_input(
    capsys, monkeypatch: pytest.MonkeyPatch, extract: Path, tmp_path: Path
) -> None:
    args = ["--as-of", "2026-11-05", "--format", "json"]
    code, out, _ = run(capsys, "validate", extract, *args)
    from_file = json.loads(out)
    _stdin(monkeypatch, extract.read_bytes())
    code_in, out_in, _ = run(capsys, "validate", "-", *args)
    from_stdin = json.loads(out_in)
    assert code == code_in == 0
    assert from_stdin["file"] == "stdin"
    assert {**from_stdin, "file": None} == {**from_file, "file": None}
    _stdin(monkeypatch, extract.read_bytes())
    code, out, err = run(capsys, "export", "-", "--out", tmp_path / "up", *args)
    assert code == 0, err
    assert json.loads(out)["rows"] == from_file["rows"]


def test_progress_only_on_a_terminal_and_only_for_long_work(
    capsys, monkeypatch: pytest.MonkeyPatch, extract: Path
) -> None:
    from xl_pmpm.cli import options

    code, _, err = run(capsys, "validate", extract, "--as-of", "2026-11-05")
    assert code == 0 and "xl-pmpm: reading" not in err  # stderr is no terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "validate", extract, "--as-of", "2026-11-05")
    assert "xl-pmpm: reading" not in err  # a small file: quick work, no progress
    monkeypatch.setattr(options, "LONG_INPUT", 1)
    code, out, err = run(capsys, "validate", extract, "--as-of", "2026-11-05")
    assert code == 0 and f"xl-pmpm: reading and validating {extract.name}" in err
    assert "xl-pmpm:" not in out


@pytest.mark.parametrize("folder", [r"%USERPROFILE%\Documents\PMPM", r"$env:USERPROFILE\PMPM"])
def test_install_refuses_a_folder_the_shell_did_not_expand(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "install", "--platform", "windows", "--python", "py", "--to", folder)
    assert code == 2
    assert 'In PowerShell write --to "$env:USERPROFILE' in err
    assert not any(tmp_path.iterdir())
