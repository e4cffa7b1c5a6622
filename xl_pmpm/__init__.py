"""xl_pmpm: PMPM tier-report review, validation and export for NY CDPAP fiscal intermediaries."""

__version__ = "0.1.0"
