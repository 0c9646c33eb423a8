from khz_tui.cli import main

raise SystemExit(main())
