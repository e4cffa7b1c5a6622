"""Parse VBA modules with the MS-VBAL grammar (PyPI ``antlr4-vba``), as VBA compiles them.

VBA resolves conditional compilation (``#Const``, ``#If`` ... ``#End If``) before it
parses a module, per platform: `resolve` does the same for a platform's constants, and
`syntax_errors` parses what is left. A module with a syntax error does not compile, and
then none of its procedures runs.
"""

from __future__ import annotations

import re
from typing import Any

from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from antlr4_vba.vbaLexer import vbaLexer
from antlr4_vba.vbaParser import vbaParser

# The compiler constants VBA defines (Office VBA reference, "Compiler constants").
PLATFORMS: dict[str, dict[str, Any]] = {
    "windows-64": {
        "VBA6": True,
        "VBA7": True,
        "Win16": False,
        "Win32": True,
        "Win64": True,
        "Mac": False,
    },
    "windows-32": {
        "VBA6": True,
        "VBA7": True,
        "Win16": False,
        "Win32": True,
        "Win64": False,
        "Mac": False,
    },
    "mac": {
        "VBA6": True,
        "VBA7": True,
        "Win16": False,
        "Win32": False,
        "Win64": False,
        "Mac": True,
        "MAC_OFFICE_VERSION": 16,
    },
}
_DIRECTIVE = re.compile(r"^\s*#\s*(Const|If|ElseIf|Else|End\s*If)\b(.*)$", re.IGNORECASE)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"]|"")*")|(?P<num>\d+(?:\.\d+)?)|(?P<op><>|<=|>=|[=<>()&+\-*/])'
    r"|(?P<name>[A-Za-z_]\w*))"
)


class Unresolvable(ValueError):
    """A conditional-compilation line this resolver does not understand."""


def _strip_comment(text: str) -> str:
    out, quoted = [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "'" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unresolvable(f"cannot read {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m[kind]))
        pos = m.end()
    return out


def evaluate(expression: str, constants: dict[str, Any]) -> Any:
    """A conditional-compilation expression's value (undefined constants are Empty: 0)."""
    tokens = _tokens(expression)
    folded = {k.casefold(): v for k, v in constants.items()}
    pos = 0

    def peek() -> str:
        return tokens[pos][1].casefold() if pos < len(tokens) else ""

    def take() -> tuple[str, str]:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom() -> Any:
        kind, value = take()
        if value == "(":
            result = either()
            take()
            return result
        if kind == "str":
            return value[1:-1].replace('""', '"')
        if kind == "num":
            return float(value)
        if value.casefold() in ("true", "false"):
            return value.casefold() == "true"
        return folded.get(value.casefold(), 0)

    def compare() -> Any:
        left = atom()
        if peek() in ("=", "<>", "<", ">", "<=", ">="):
            op = take()[1]
            right = atom()
            if isinstance(left, bool) or isinstance(right, bool):
                left, right = -int(left), -int(right)  # VBA: True = -1
            return {
                "=": left == right,
                "<>": left != right,
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[op]
        return left

    def negation() -> Any:
        if peek() == "not":
            take()
            return not negation()
        return compare()

    def both() -> Any:
        result = negation()
        while peek() == "and":
            take()
            right = negation()
            result = bool(result) and bool(right)
        return result

    def either() -> Any:
        result = both()
        while peek() == "or":
            take()
            right = both()
            result = bool(result) or bool(right)
        return result

    value = either()
    if pos != len(tokens):
        raise Unresolvable(f"cannot read {expression!r}")
    return value


def resolve(source: str, platform: dict[str, Any]) -> str:
    """The module as VBA parses it on `platform`: directive lines and the lines of
    branches not taken blanked (line numbers kept)."""
    constants = dict(platform)
    # Per #If: (this branch taken, some branch already taken, the enclosing one active).
    stack: list[list[bool]] = []
    out = []
    for line in re.split(r"\r\n|\r|\n", source):
        active = all(s[0] and s[2] for s in stack[-1:]) if stack else True
        m = _DIRECTIVE.match(line)
        if m is None:
            out.append(line if active else "")
            continue
        word = re.sub(r"\s+", "", m[1]).casefold()
        rest = _strip_comment(m[2])
        if word == "const":
            if active:
                name, _, expr = rest.partition("=")
                constants[name.strip()] = evaluate(expr, constants)
        elif word == "if":
            taken = active and bool(evaluate(rest.removesuffix("Then").strip(), constants))
            stack.append([taken, taken, active])
        elif word == "elseif":
            top = stack[-1]
            taken = (
                top[2]
                and not top[1]
                and bool(evaluate(re.sub(r"(?i)\s*then$", "", rest), constants))
            )
            top[0], top[1] = taken, top[1] or taken
        elif word == "else":
            top = stack[-1]
            top[0], top[1] = top[2] and not top[1], True
        else:
            stack.pop()
        out.append("")
    if stack:
        raise Unresolvable("#If without #End If")
    return "\r\n".join(out)


class _Errors(ErrorListener):
    def __init__(self) -> None:
        self.errors: list[str] = []

    def syntaxError(self, recognizer, symbol, line, column, message, e) -> None:  # noqa: N802
        self.errors.append(f"line {line}:{column} {message}")


def syntax_errors(source: str, platform: dict[str, Any]) -> list[str]:
    """The MS-VBAL grammar's syntax errors in `source` resolved for `platform` ([]: it parses)."""
    text = resolve(source, platform)
    if not text.endswith("\n"):
        text += "\r\n"
    errors = _Errors()
    lexer = vbaLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(errors)
    parser = vbaParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(errors)
    parser.startRule()
    return errors.errors


_CLASS_HEADER = "VERSION 1.0 CLASS\r\nBEGIN\r\n  MultiUse = -1  'True\r\nEND\r\n"
_HEADER_ATTRIBUTE = re.compile(r"^Attribute (VB_\w+) = .*$")


def exported_form(stored: str) -> str:
    """A module as the VBA project stores it (what olevba reads) in the form VBE exports
    and the grammar's start rule takes: a class or document module (it has VB_Base)
    gets the ``VERSION 1.0 CLASS`` block; of the header's attributes, the grammar's own
    module header keeps VB_Name (the others are the project's metadata, not code)."""
    lines = re.split(r"\r\n|\r|\n", stored)
    header = []
    while lines and (m := _HEADER_ATTRIBUTE.match(lines[0])):
        header.append((m[1], lines.pop(0)))
    kind = {name for name, _ in header}
    kept = [line for name, line in header if name == "VB_Name"]
    text = "\r\n".join(kept + lines)
    return _CLASS_HEADER + text if "VB_Base" in kind else text
