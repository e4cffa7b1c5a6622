"""The `xl-pmpm` argument parser: argparse, with what its users expect of a command line.

A command is one declaration, as argparse has it, with two more keywords:

    p = sub.add_parser("export", help="one line for the command list",
                       description="what it does, in a sentence or two",
                       example="xl-pmpm export october.csv --out upload",
                       group="month")

`xl-pmpm --help` lists the commands by `group` in the month's order (`GROUPS`);
each command's `--help` shows its description and its example. A mistyped command
or choice gets "did you mean" (difflib) instead of the whole list.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# The command list's sections, in the order a biller meets them.
GROUPS: dict[str, str] = {
    "start": "Start here",
    "month": "The month, in order",
    "ledger": "The export ledger",
    "visits": "From visits",
    "rules": "Rules and reference",
    "workbook": "The Excel workbook",
}
OTHER = "Other commands"
# Within a group, these come first and in this order (the month's steps); the rest follow
# in the order they were added.
ORDER = (
    "demo", "install", "validate", "review", "restore", "export", "reconcile", "carry-over",
    "unbilled", "summary", "history", "kpi", "paid", "ledger", "visits",
)  # fmt: skip


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose examples keep their lines and whose typos get a suggestion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", Commands)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        import difflib  # only on a typo: start-up stays lean

        choices = [str(c) for c in action.choices]
        close = difflib.get_close_matches(str(value), choices, n=3, cutoff=0.6)
        if isinstance(action, Commands):
            message = f"unknown command '{value}'"
            hint = f"`{self.prog} --help` lists the commands"
        else:
            message = f"argument {'/'.join(action.option_strings) or action.dest}: '{value}' "
            message += "is not one of the choices"
            hint = "choose from " + ", ".join(choices)
        if close:
            hint = "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        raise argparse.ArgumentError(None, f"{message}; {hint}")


class Commands(argparse._SubParsersAction):
    """Subcommands with a description, an example and a place in the command list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("metavar", "COMMAND")
        kwargs.setdefault("help", "one of the commands below")
        super().__init__(*args, **kwargs)
        self.listing: list[tuple[str, str, str]] = []  # (group, name, help)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        example = kwargs.pop("example", None)
        group = kwargs.pop("group", None)
        line = kwargs.get("help") or ""
        kwargs.setdefault("description", line[:1].upper() + line[1:] + ("." if line else ""))
        if example:
            examples = [example] if isinstance(example, str) else list(example)
            kwargs.setdefault("epilog", "Example:\n" + "\n".join(f"  $ {e}" for e in examples))
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        parser = super().add_parser(name, **kwargs)
        self.listing.append((group or "", name, line))
        return parser

    def _get_subactions(self) -> list[argparse.Action]:
        return []  # the parser's epilog lists the commands, grouped (`command_list`)


def command_list(commands: Commands, grouped: bool = True) -> str:
    """The commands by group, in `GROUPS` order, each with its one-line help."""
    width = max((len(name) for _, name, _ in commands.listing), default=0) + 2
    if not grouped:
        return "Commands:\n" + "\n".join(f"  {n:<{width}}{h}" for _, n, h in commands.listing)
    sections: list[str] = []
    for key in [*GROUPS, None]:
        rows = [
            (name, line)
            for group, name, line in commands.listing
            if (group == key if key is not None else group not in GROUPS)
        ]
        rows.sort(key=lambda r: ORDER.index(r[0]) if r[0] in ORDER else len(ORDER))
        if rows:
            title = GROUPS[key] if key is not None else OTHER
            sections.append(title + ":\n" + "\n".join(f"  {n:<{width}}{h}" for n, h in rows))
    return "\n\n".join(sections)


def commands_of(parser: argparse.ArgumentParser) -> Commands | None:
    found = [a for a in parser._actions if isinstance(a, Commands)]
    return found[0] if found else None


def finish(parser: argparse.ArgumentParser) -> None:
    """Put the command lists into the help of `parser` (grouped, as the epilog) and of each
    command that has commands of its own (`ledger`: in its description). Call once every
    command is added."""
    commands = commands_of(parser)
    if commands is None:
        return
    tail = f"\n\n`{parser.prog} COMMAND --help` describes a command, with an example."
    parser.epilog = command_list(commands) + tail
    for sub in commands.choices.values():
        nested = commands_of(sub)
        if nested is not None:
            sub.description = (sub.description or "") + "\n\n" + command_list(nested, False)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """`parser.parse_args`, with no command at all answered by the help (exit 2)."""
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help(sys.stderr)
        raise SystemExit(2)
    return parser.parse_args(argv)
