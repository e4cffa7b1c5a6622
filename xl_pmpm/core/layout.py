"""The import layout: one data file that drives validation, export, headers and docs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xl_pmpm.core.errors import PmpmInputError

TYPES = ("number", "text", "datetime")
REQUIRED = ("yes", "no", "situational")

# strftime directives the layout may use, and the exact text each one matches.
_DIRECTIVE_PATTERNS = {
    "%Y": r"[0-9]{4}",
    "%m": r"[0-9]{2}",
    "%d": r"[0-9]{2}",
    "%H": r"[0-9]{2}",
    "%I": r"[0-9]{2}",
    "%M": r"[0-9]{2}",
    "%S": r"[0-9]{2}",
    "%p": r"(?:AM|PM)",
}


@dataclass(frozen=True)
class Column:
    """One column of the layout."""

    name: str
    type: str
    required: str = "no"
    role: str | None = None
    decimals: int | None = None
    max_length: int | None = None
    formats: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    locked: bool = False
    id: bool = False
    informational: bool = False
    export: bool = True
    optional: bool = False
    pair: str | None = None
    default: str | None = None
    accepts: tuple[str, ...] = ()
    skilled: tuple[str, ...] = ()

    @property
    def header_names(self) -> tuple[str, ...]:
        """Every header this column is read under: its name, then the names it also accepts."""
        return (self.name, *self.accepts)

    @property
    def export_format(self) -> str | None:
        return self.formats[0] if self.formats else None

    def format_patterns(self) -> list[str]:
        """Anchored regular expressions, one per accepted datetime format."""
        return [format_to_regex(f) for f in self.formats]


@dataclass(frozen=True)
class Layout:
    """The ordered columns of the import file and its file-level rules."""

    name: str
    columns: tuple[Column, ...]
    max_upload_bytes: int = 10_000_000
    export_informational: bool = True
    encoding: str = "utf-8"
    line_terminator: str = "\r\n"
    source: str = "bundled layout"
    _by_role: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_role.update({c.role: c for c in self.columns if c.role})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def expected_names(self) -> list[str]:
        """Columns a file must have: the import's own fields (optional ones aside).

        The informational columns are the tier report's, not the import's: a file
        without them is still an import file, only the checks that need them are skipped.
        """
        return [c.name for c in self.columns if not c.optional and not c.informational]

    @property
    def informational_columns(self) -> list[Column]:
        return [c for c in self.columns if c.informational and not c.optional]

    @property
    def export_columns(self) -> list[Column]:
        return [
            c
            for c in self.columns
            if c.export and (self.export_informational or not c.informational)
        ]

    @property
    def sheet_columns(self) -> list[Column]:
        """The columns of the workbook's report sheets: every column the rules read.

        The export columns and those read but never exported (Authorized Hours, which an
        authorized-hours payer's tier follows): shown to the biller, left out of the import.
        """
        exported = self.export_columns
        return [c for c in self.columns if c in exported or not c.export]

    def column(self, role: str) -> Column | None:
        """The column playing `role`, or None if the layout has none."""
        return self._by_role.get(role)

    def name_of(self, role: str) -> str:
        """Header name of the column playing `role`; an error if the layout lacks it."""
        col = self._by_role.get(role)
        if col is None:
            raise PmpmInputError(
                f"The layout ({self.source}) has no column with role '{role}'.",
                fix=f'Add `role = "{role}"` to the column that holds it.',
            )
        return col.name

    def get(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def format_to_regex(fmt: str) -> str:
    """Turn a strftime format into an anchored regex matching exactly that form."""
    out = []
    i = 0
    while i < len(fmt):
        two = fmt[i : i + 2]
        if two in _DIRECTIVE_PATTERNS:
            out.append(_DIRECTIVE_PATTERNS[two])
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"unsupported directive {two!r} in format {fmt!r}")
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "^" + "".join(out) + "$"


def parse_layout(raw: dict, source: str = "layout") -> Layout:
    """Build and check a Layout from the parsed TOML mapping."""
    head = raw.get("layout", {})
    columns = []
    seen: set[str] = set()
    roles: set[str] = set()
    for n, spec in enumerate(raw.get("columns", []), start=1):
        where = f"{source}, column {n}"
        name = spec.get("name")
        if not name:
            raise PmpmInputError(f"{where} has no name.", fix="Give every column a `name`.")
        if name in seen:
            raise PmpmInputError(f"{where}: '{name}' appears twice.", fix="Keep one of them.")
        seen.add(name)
        kind = spec.get("type", "text")
        if kind not in TYPES:
            raise PmpmInputError(
                f"{where} ('{name}') has type '{kind}'.", fix=f"Use one of {', '.join(TYPES)}."
            )
        required = spec.get("required", "no")
        if required not in REQUIRED:
            raise PmpmInputError(
                f"{where} ('{name}') has required = '{required}'.",
                fix=f"Use one of {', '.join(REQUIRED)}.",
            )
        formats = tuple(spec.get("formats", ()))
        if kind == "datetime" and not formats:
            raise PmpmInputError(
                f"{where} ('{name}') is a datetime with no formats.",
                fix='Add e.g. formats = ["%Y-%m-%d %H:%M"].',
            )
        for f in formats:
            try:
                format_to_regex(f)
            except ValueError as exc:
                raise PmpmInputError(
                    f"{where} ('{name}'): {exc}.", fix="Use %Y %m %d %H %I %M %S %p."
                ) from None
        role = spec.get("role")
        accepts = tuple(str(a) for a in spec.get("accepts", ()))
        clash = [a for a in accepts if a in seen and a != name]
        if clash:
            raise PmpmInputError(
                f"{where} ('{name}') accepts '{clash[0]}', which another column already has.",
                fix="Give each header name to one column only.",
            )
        seen.update(accepts)
        if role in roles:
            raise PmpmInputError(
                f"{where}: role '{role}' is used twice.", fix="Give each role to one column."
            )
        if role:
            roles.add(role)
        unknown = set(spec) - {
            "name",
            "type",
            "required",
            "role",
            "decimals",
            "max_length",
            "formats",
            "allowed",
            "locked",
            "id",
            "informational",
            "export",
            "optional",
            "pair",
            "default",
            "accepts",
            "skilled",
        }
        if unknown:
            raise PmpmInputError(
                f"{where} ('{name}') has unknown keys: {', '.join(sorted(unknown))}.",
                fix="Remove them or check their spelling against the bundled layout.toml.",
            )
        columns.append(
            Column(
                name=name,
                type=kind,
                required=required,
                role=role,
                decimals=spec.get("decimals"),
                max_length=spec.get("max_length"),
                formats=formats,
                allowed=tuple(str(a) for a in spec.get("allowed", ())),
                locked=bool(spec.get("locked", False)),
                id=bool(spec.get("id", False)),
                informational=bool(spec.get("informational", False)),
                export=bool(spec.get("export", True)),
                optional=bool(spec.get("optional", False)),
                pair=spec.get("pair"),
                default=None if spec.get("default") is None else str(spec["default"]),
                accepts=accepts,
                skilled=tuple(str(a) for a in spec.get("skilled", ())),
            )
        )
    if not columns:
        raise PmpmInputError(f"{source} defines no columns.", fix="Add [[columns]] tables.")
    return Layout(
        name=head.get("name", "import layout"),
        columns=tuple(columns),
        max_upload_bytes=int(head.get("max_upload_bytes", 10_000_000)),
        export_informational=bool(head.get("export_informational", True)),
        encoding=head.get("encoding", "utf-8"),
        line_terminator=head.get("line_terminator", "\r\n"),
        source=source,
    )


def layout_markdown(layout: Layout) -> str:
    """The layout as a Markdown table (docs/reference.md's copy is checked against this)."""
    rows = [
        "| # | Column | Type | Required | Max length | Formats | Locked | Exported |",
        "|---|---|---|---|---|---|---|---|",
    ]
    exported = {c.name for c in layout.export_columns}
    for n, c in enumerate(layout.columns, start=1):
        kind = c.type + (f" ({c.decimals} dp)" if c.type == "number" and c.decimals else "")
        fmts = " or ".join(f"`{f}`" for f in c.formats) or (
            " / ".join(c.allowed) if c.allowed else ""
        )
        name = c.name + (f" (also read as: {', '.join(c.accepts)})" if c.accepts else "")
        rows.append(
            f"| {n} | {name} | {kind} | {c.required} | {c.max_length or ''} | {fmts} "
            f"| {'yes' if c.locked else ''} | {'yes' if c.name in exported else 'no'} |"
        )
    return "\n".join(rows)
