Attribute VB_Name = "PMPM_Ribbon"
' Ribbon callbacks of the PMPM tab (customUI/customUI14.xml), generated from
' xl_pmpm/workbook/actions.py. Each one hands the workbook to Python: all logic
' lives in xl_pmpm.excel.frontend.
Option Explicit

Sub PMPM_LoadExtract(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.load_extract(xw.Book.caller())"
End Sub

Sub PMPM_RefreshFlags(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.refresh_flags(xw.Book.caller())"
End Sub

Sub PMPM_Validate(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.validate(xw.Book.caller())"
End Sub

Sub PMPM_DeleteRows(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.delete_rows(xw.Book.caller())"
End Sub

Sub PMPM_DeferRows(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.defer_rows(xw.Book.caller())"
End Sub

Sub PMPM_Restore(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.restore_rows(xw.Book.caller())"
End Sub

Sub PMPM_Export(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.export(xw.Book.caller())"
End Sub

Sub PMPM_History(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.show_history(xw.Book.caller())"
End Sub

Sub PMPM_Kpis(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.show_kpis(xw.Book.caller())"
End Sub

Sub PMPM_Unbilled(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.show_unbilled(xw.Book.caller())"
End Sub

Sub PMPM_Paid(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.show_paid(xw.Book.caller())"
End Sub

Sub PMPM_Help(control As IRibbonControl)
    RunPython "import xlwings as xw, xl_pmpm.excel.frontend as f; f.show_help(xw.Book.caller())"
End Sub
