from videozoo.cli import main

raise SystemExit(main())
