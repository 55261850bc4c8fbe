from provador.cli import main

raise SystemExit(main())
