"""Shared pytest fixtures.

The first statements enable xlwings' remote engine before anything imports xlwings.
"""

# XLWINGS_LICENSE_KEY=noncommercial selects xlwings PRO under the PolyForm Noncommercial
# License 1.0.0. It applies to this test path only, to drive the remote (Office.js)
# engine without Excel; product code must never set or rely on it. It has to be set
# before the first `import xlwings`, which is why it precedes every other import here.
import os

os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from excel_harness import ExcelHarness  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The minutes-long tests (marked slow) start first: on parallel workers they then run
    beside the rest instead of alone at the end. The sort is stable: otherwise as collected."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- Excel (remote engine) ------------------------------------------------------------


@pytest.fixture
def excel() -> Iterator[ExcelHarness]:
    """Harness for Excel-facing code: payloads, books, replay, range-call counting.

    One remote book per test: every ``open_book``/``run`` closes the previous one, and
    teardown closes whatever is left.
    """
    harness = ExcelHarness()
    yield harness
    harness.close()


# --- Add further fixtures below, one section per area ---------------------------------
