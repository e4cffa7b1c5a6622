from xl_pmpm.cli.app import main

raise SystemExit(main())
