from alertgate.cli import main

raise SystemExit(main())
