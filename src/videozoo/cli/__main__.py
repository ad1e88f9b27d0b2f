"""``python -m videozoo.cli``: the command line, as ``videozoo``."""

from videozoo.cli import main

raise SystemExit(main())
