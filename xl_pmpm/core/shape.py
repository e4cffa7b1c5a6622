"""The shape of a settings file read from TOML, checked before any of it is used.

A hand-edited layout or mapping may hold a number where a list belongs, a list where a
name belongs, a table where a value belongs. `check_shape` says which key, what it
holds and what it must hold (a PmpmInputError naming the file), before the parser
meets it as a TypeError.

A shape is: a type or a tuple of types (a value of one of them; `bool` is never taken
for a number), a one-element list `[inner]` (a list of such values), a dict of keys and
their shapes (a table; keys not named are left to the parser), `Each(inner)` (a table
of any keys, each value `inner`) or `Either(a, b, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xl_pmpm.core.errors import PmpmInputError

SCALAR = (str, int, float, bool)
_KINDS = {
    bool: "true or false",
    str: "text",
    int: "a whole number",
    float: "a number",
    list: "a list",
    dict: "a table",
}


@dataclass(frozen=True)
class Each:
    """A table of any keys, each value of `inner`'s shape."""

    inner: object


@dataclass(frozen=True)
class Either:
    """A value of any of the shapes."""

    shapes: tuple


def either(*shapes: object) -> Either:
    return Either(tuple(shapes))


def kind_of(value: object) -> str:
    for kind, said in _KINDS.items():
        if isinstance(value, kind):
            return said
    return type(value).__name__


def describe(shape: object) -> str:
    if isinstance(shape, Either):
        return " or ".join(describe(s) for s in shape.shapes)
    if isinstance(shape, list):
        return f"a list of {describe(shape[0]).removeprefix('a ')}"
    if isinstance(shape, dict | Each):
        return "a table"
    if shape == SCALAR:
        return "a value (text, a number, true or false)"
    kinds = shape if isinstance(shape, tuple) else (shape,)
    return " or ".join(_KINDS.get(k, k.__name__) for k in kinds)


def _fits(value: object, shape: object) -> bool:
    if isinstance(shape, Either):
        return any(_fits(value, s) for s in shape.shapes)
    if isinstance(shape, list):
        return isinstance(value, list)
    if isinstance(shape, dict | Each):
        return isinstance(value, dict)
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def check_shape(value: object, shape: object, source: str, where: str = "", fix: str = "") -> None:
    """Raise a PmpmInputError naming `source` and the key (`where`) whose value does not
    have `shape`; nothing else is checked (the parser checks the values themselves)."""
    if not _fits(value, shape):
        raise PmpmInputError(
            f"{where or 'The file'} is {kind_of(value)}; it must be {describe(shape)}.",
            file=source,
            fix=fix or "Compare it with the bundled file of the same kind.",
        )
    if isinstance(shape, Either):
        shape = next(s for s in shape.shapes if _fits(value, s))
    # `_fits` checked the value's kind: a list for a list shape, a table for the others.
    if isinstance(shape, list) and isinstance(value, list):
        for n, item in enumerate(value, start=1):
            check_shape(item, shape[0], source, f"{where}[{n}]", fix)
    elif isinstance(shape, dict) and isinstance(value, dict):
        for key, inner in shape.items():
            if key in value:
                name = f"{where}.{key}" if where else key
                check_shape(value[key], inner, source, name, fix)
    elif isinstance(shape, Each) and isinstance(value, dict):
        for key, item in value.items():
            check_shape(item, shape.inner, source, f"{where}.{key}" if where else key, fix)
