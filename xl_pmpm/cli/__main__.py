from xl_pmpm.cli import program

program()
