from trickbench.cli import main

raise SystemExit(main())
