"""The export ledger's entries as a table: their statuses and columns.

The database that stores them is :mod:`xl_pmpm.io.ledger`; the rules that read them
(KPIs, carry-over, reconciliation) take them as a DataFrame with these columns.
"""

from __future__ import annotations

PENDING, EXPORTED, REJECTED = "pending", "exported", "rejected"
# Entries in these states stop the same member-month being exported again.
BLOCKING = (PENDING, EXPORTED)


ENTRY_COLUMNS = [
    "id",
    "batch",
    "patient_number",
    "contract",
    "month",
    "directory",
    "file_name",
    "exported_at",
    "line",
    "tier",
    "rate",
    "sha256",
    "row_hash",
    "correction",
    "status",
    "reason",
    "updated_at",
    "placeholder",
    "replaces",  # a confirmed entry exported over an open placeholder: the placeholder's id
]
