"""The KPI sheet of the billers' workbook: one Excel Table per KPI table
(`core.kpi.kpi_tables`), side by side, and the charts over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import openpyxl
import pandas as pd
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break

from xl_pmpm.core.kpi import KPI_COLUMNS
from xl_pmpm.core.vocabulary import (
    KPI,
)
from xl_pmpm.workbook.book_sheets import CHART_COLUMNS, CHART_ROWS, CHART_SIZE
from xl_pmpm.workbook.cells import (
    Cells,
    add_table,
    print_page,
)
from xl_pmpm.workbook.formulas import (
    column_of,
)
from xl_pmpm.workbook.sheets import (
    KPI_TABLE_NAMES,
    KPI_TEXT_COLUMNS,
    kpi_first_columns,
    shown,
)

# The KPI charts plot fixed ranges (a chart cannot follow a table that grows): this many
# rows of each table, three years of months.
KPI_CHART_ROWS = 36
KPI_FORMATS = {
    "revenue": "#,##0.00",
    "revenue_per_member": "#,##0.00",
    "share": "0.00%",
    "share_change": "0.00%",
}


KPI_EMPTY_NOTE = (
    "No exports recorded yet: the KPIs and charts fill in when Export has recorded a month "
    "in the ledger and you press KPIs."
)


def kpi_sheet(
    wb: openpyxl.Workbook, tiers: Sequence[int], tables: Mapping[str, pd.DataFrame] | None = None
) -> None:
    """One table per KPI table (side by side; `tables` as kpi.kpi_tables gives them, else
    empty until the KPI button fills them) and charts.

    A stacked chart needs one series per tier: a block of formulas beside the charts
    turns the tier mix table into one share column per (default-payer) tier.
    """
    tables = tables or {}
    bodies = {
        key: frame.reindex(columns=KPI_COLUMNS[key])
        .astype(object)
        .where(frame.reindex(columns=KPI_COLUMNS[key]).notna(), None)
        .to_numpy()
        .tolist()
        for key, frame in tables.items()
    }
    ws = wb.create_sheet(KPI)
    ws.sheet_properties.codeName = "wsKpi"
    cells = Cells(ws)
    firsts = kpi_first_columns()
    header: list[object] = []
    for key, first in firsts.items():
        columns = KPI_COLUMNS[key]
        header += [None] * (first - 1 - len(header))
        header += [cells(shown(h), bold=True) for h in columns]
        for c, h in enumerate(columns, start=first):
            dimension = ws.column_dimensions[get_column_letter(c)]
            dimension.width = max(10, len(shown(h)) + 4)
            dimension.number_format = (
                "@" if h in KPI_TEXT_COLUMNS else KPI_FORMATS.get(h, "General")
            )
    charts_at = len(header) + 2
    block = charts_at + CHART_COLUMNS + 1  # right of the charts
    month = get_column_letter(block)
    header += [None] * (block - 1 - len(header))
    # Above the charts, while the ledger has no export: a word, not three empty charts.
    months = column_of(KPI_TABLE_NAMES["by_month"], "month")
    header[charts_at - 1] = cells(f'=IF(COUNTA({months})=0,"{KPI_EMPTY_NOTE}","")', bold=True)
    header += [cells("Tier mix: month", bold=True)]
    header += [cells(f"Tier {t} share", bold=True) for t in tiers]
    ws.column_dimensions[month].width = 16
    ws.freeze_panes = "A2"
    # Printed: the charts, landscape, one per page (a page break between them), each
    # whole and page-wide; the tables are for the screen (sheetPr goes out first).
    left, right = get_column_letter(charts_at), get_column_letter(charts_at + CHART_COLUMNS)
    print_page(ws, f"{left}1:{right}{1 + 3 * CHART_ROWS}")
    for at in (1 + CHART_ROWS, 1 + 2 * CHART_ROWS):
        ws.row_breaks.append(Break(id=at))
    ws.append(header)
    mix = KPI_TABLE_NAMES["tier_mix"]
    by_month = get_column_letter(firsts["by_month"] + KPI_COLUMNS["by_month"].index("month"))
    height = max([KPI_CHART_ROWS, *(len(b) for b in bodies.values())])
    for r in range(2, height + 2):
        row: list[object] = [None] * (block - 1)
        for key, body in bodies.items():
            if r - 2 < len(body):
                first = firsts[key]
                for c, (h, v) in enumerate(zip(KPI_COLUMNS[key], body[r - 2], strict=True)):
                    fmt = "@" if h in KPI_TEXT_COLUMNS else KPI_FORMATS.get(h)
                    row[first - 1 + c] = v if v is None or fmt is None else cells(v, fmt)
        if r <= KPI_CHART_ROWS + 1:
            shares = [
                cells(
                    f'=IF(${month}{r}="","",SUMPRODUCT(--({column_of(mix, "month")}=${month}{r}),'
                    f"--({column_of(mix, 'tier')}={t}),{column_of(mix, 'share')}))",
                    "0.0%",
                )
                for t in tiers
            ]
            row += [f'=IF({by_month}{r}="","",{by_month}{r})', *shares]
        ws.append(row)
    for key, first in firsts.items():
        add_table(
            ws,
            KPI_TABLE_NAMES[key],
            [shown(c) for c in KPI_COLUMNS[key]],
            len(bodies.get(key, ())),
            first_column=first,
            style="TableStyleLight9",
        )

    last = KPI_CHART_ROWS + 1
    month_col = firsts["by_month"] + KPI_COLUMNS["by_month"].index("month")
    pmpm, members, mix_chart = LineChart(), BarChart(), BarChart()
    members.type = mix_chart.type = "col"
    mix_chart.grouping, mix_chart.overlap = "percentStacked", 100
    charts = (
        # (chart, title, y axis, by_month column (None: the tier share block), anchor row)
        (pmpm, "Revenue per member per month (PMPM)", "Dollars", "revenue_per_member", 2),
        (members, "Members billed per month", "Members", "members", 2 + CHART_ROWS),
        (mix_chart, "Tier mix (share of members)", "Share", None, 2 + 2 * CHART_ROWS),
    )
    for chart, title, axis, field, anchor in charts:
        if field is None:  # the tier share block
            first, final, categories = block + 1, block + len(tiers), block
        else:
            first = final = firsts["by_month"] + KPI_COLUMNS["by_month"].index(field)
            categories = month_col
        data = Reference(ws, min_col=first, max_col=final, min_row=1, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=categories, min_row=2, max_row=last))
        chart.title, chart.y_axis.title, chart.x_axis.title = title, axis, "Month"
        chart.width, chart.height = CHART_SIZE
        ws.add_chart(chart, f"{get_column_letter(charts_at)}{anchor}")
