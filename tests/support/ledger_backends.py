"""The ledger's two backends for the tests: a SQLite file, and a PostgreSQL database.

`.ci/postgres.sh` starts a private server and exports XL_PMPM_TEST_POSTGRES (a URL
without password; the password is in PGPASSWORD). Without it the PostgreSQL cases are
skipped. Each test gets a database of its own, dropped afterwards.

Import the fixtures into a test module:
`from ledger_backends import backend_fixture, pg_ledger_fixture`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ENV = "XL_PMPM_TEST_POSTGRES"
needs_postgres = pytest.mark.skipif(
    not os.environ.get(PG_ENV), reason=f"no PostgreSQL server (${PG_ENV} unset; .ci/postgres.sh)"
)


# Taken once: a test may change PGPASSWORD (a wrong password) while its database is made
# or dropped.
_PASSWORD = os.environ.get("PGPASSWORD")


def _admin() -> sa.Engine:
    url = sa.engine.make_url(os.environ[PG_ENV]).set(drivername="postgresql+psycopg")
    if _PASSWORD and not url.password:
        url = url.set(password=_PASSWORD)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def new_database() -> str:
    """A fresh, empty database on the test server; its URL (no password)."""
    name = f"xl_{uuid.uuid4().hex[:12]}"
    engine = _admin()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return str(sa.engine.make_url(os.environ[PG_ENV]).set(database=name).render_as_string())


def drop_database(url: str) -> None:
    name = sa.engine.make_url(url).database
    engine = _admin()
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    engine.dispose()


@pytest.fixture(name="pg_ledger")
def pg_ledger_fixture() -> Iterator[str]:
    """The URL of an empty database on the test server, with the ledger's tables."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"no PostgreSQL server (${PG_ENV} unset; .ci/postgres.sh)")
    from xl_pmpm.io import ledger

    url = new_database()
    ledger.init(str(sa.engine.make_url(url).set(password=_PASSWORD).render_as_string(False)))
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(name="backend", params=["sqlite", "postgresql"])
def backend_fixture(request, tmp_path: Path) -> Iterator[str | Path]:
    """A ledger on each backend: a SQLite file path (not created yet), or a server URL."""
    if request.param == "sqlite":
        yield tmp_path / "private" / "ledger.sqlite3"
        return
    yield request.getfixturevalue("pg_ledger")


# Ledgers an earlier release wrote (SQLite), for the upgrade tests.
# Before placeholders (v1).
OLD_V1 = """
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, batch TEXT NOT NULL,
    patient_number TEXT NOT NULL, contract TEXT NOT NULL, month TEXT NOT NULL,
    directory TEXT NOT NULL, file_name TEXT NOT NULL, exported_at TEXT NOT NULL,
    line INTEGER, tier INTEGER, rate REAL, sha256 TEXT NOT NULL,
    row_hash TEXT NOT NULL DEFAULT '', correction INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'exported', 'rejected')),
    reason TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS exports_member ON exports (patient_number, month);
"""
# The schema the current release (before schema versions) writes: v1 plus placeholder.
OLD_V2 = OLD_V1.replace(
    "updated_at TEXT NOT NULL DEFAULT ''\n",
    "updated_at TEXT NOT NULL DEFAULT '',\n    placeholder INTEGER NOT NULL DEFAULT 0\n",
)
# Issue 13's release (before schema versions): v2 plus `replaces`.
OLD_V2_REPLACES = OLD_V2.replace(
    "placeholder INTEGER NOT NULL DEFAULT 0\n",
    "placeholder INTEGER NOT NULL DEFAULT 0,\n    replaces INTEGER\n",
)
