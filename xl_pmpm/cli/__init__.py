"""``xl-pmpm``: the command line over the core, io and workbook rooms."""

from xl_pmpm.cli.app import build_parser, main, render_findings

__all__ = ["build_parser", "main", "render_findings"]
