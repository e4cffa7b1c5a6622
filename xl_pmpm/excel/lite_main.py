"""xlwings Lite's ``main.py``: the cell functions and the workbook's scripts.

Paste into the Lite editor (or load as ``main.py``) with ``xl_pmpm`` in Lite's
requirements. Lite registers what carries its ``func`` / ``script`` decorators in this
module; both are made here from the table in :mod:`xl_pmpm.workbook.actions`, so this
file never lists a function by hand. The logic stays in ``xl_pmpm``.
"""

from __future__ import annotations

from typing import Any

import xlwings as xw
from xlwings import arg, func, script

from xl_pmpm.excel import frontend, udfs
from xl_pmpm.workbook.actions import BUTTONS, CELL_FUNCTIONS, Button


def lite_script(button: Button) -> Any:
    """The script of a ribbon button, as Lite runs it: the book is its one argument."""
    action = getattr(frontend, button.function)

    def run(book: xw.Book) -> None:
        action(book)

    run.__name__ = run.__qualname__ = button.function
    run.__doc__ = f"{button.label}: {button.help}"
    run.__module__ = __name__
    # Lite injects the workbook into the parameter annotated xw.Book (resolved, not a string).
    run.__annotations__ = {"book": xw.Book, "return": None}
    return script(run)


for _spec in CELL_FUNCTIONS:
    globals()[_spec.name] = udfs.cell_function(_spec, func, arg)
for _button in BUTTONS:
    globals()[_button.function] = lite_script(_button)
