"""``python -m livemarket`` runs the command line."""

from livemarket.web.cli import main

raise SystemExit(main())
