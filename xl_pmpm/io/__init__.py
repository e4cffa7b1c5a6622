"""Bytes in and out: readers, export writing, archive, ledger, locks, bundled data."""
