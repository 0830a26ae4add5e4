from bs4nn.cli import main

raise SystemExit(main())
