"""The billers' workbook: the template builder, the sheet structure, the VBA writer."""
