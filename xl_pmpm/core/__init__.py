"""The rules over tables: no Excel, no files, no database, no globals."""
