"""Shared pytest fixtures.

The first statements enable xlwings' remote engine before anything imports xlwings.
"""

# XLWINGS_LICENSE_KEY=noncommercial selects xlwings PRO under the PolyForm Noncommercial
# License 1.0.0. It applies to this test path only, to drive the remote (Office.js)
# engine without Excel; product code must never set or rely on it. It has to be set
# before the first `import xlwings`, which is why it precedes every other import here.
import os

os.environ["XLWINGS_LICENSE_KEY"] = "noncommercial"

# The default ledger is in the user's data folder (platformdirs: $XDG_DATA_HOME on
# Linux). No test may write into the real one: every process the tests start gets a
# throwaway folder, and each test its own (the `own_data_dir` fixture below).
import tempfile  # noqa: E402

os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="xl-pmpm-test-data-")

import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

# The tests mirror the package's rooms (tests/core, tests/io, ...). What they share is in
# tests/support (helpers) and tests/harness (the Excel harness), imported by module name.
_TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(_TESTS / "support"), str(_TESTS / "harness")]

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


# --- The user's data folder (the default ledger) ---------------------------------------


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test its own user data folder: the default ledger is never shared or real."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("user-data")))


# --- Add further fixtures below, one section per area ---------------------------------
