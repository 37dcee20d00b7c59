from dan.commands.cli import main

raise SystemExit(main())
