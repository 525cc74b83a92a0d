from perfedit.cli import main

raise SystemExit(main())
