"""Rules over plain Python values (no pandas, no numpy), for what runs before pandas is
imported: `xl-pmpm visits` reads its mapping and starts DuckDB's query while pandas loads
(`io/visits_engine.py`). The column-wise helpers are `values` and `cells`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from xl_pmpm.core.errors import PmpmInputError


def squash(text: object) -> str:
    """Text compared loosely (headers, labels): BOMs, runs of whitespace and case aside."""
    if text is None:
        return ""
    return " ".join(str(text).replace("\ufeff", " ").split()).casefold()


def check_date_formats(formats: Iterable[str], source: str, key: str) -> tuple[str, ...]:
    """`formats` if each is a strptime format; else a PmpmInputError naming `key` (a
    mapping's date_formats typed by hand: '%,m', a stray '%', an empty one)."""
    out = tuple(formats)
    for fmt in out:
        problem = "it is empty" if not fmt.strip() else ""
        try:
            datetime.strptime("", fmt)
        except ValueError as exc:
            said = str(exc)
            if "does not match format" not in said and "unconverted data" not in said:
                problem = said
        except re.error:  # strptime's pattern names each code once: '%Y%m/%d/%Y'
            problem = "a code appears twice in it"
        if problem:
            raise PmpmInputError(
                f"{key} '{fmt}' is not a date format ({problem}).",
                file=source,
                fix="Write strftime codes, e.g. %Y-%m-%d or %m/%d/%Y.",
            )
    return out
