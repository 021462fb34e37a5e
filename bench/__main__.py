"""``python -m bench run SCENARIO [--json] [--baseline naive]``: see bench/cli.py."""

from bench.cli import main

raise SystemExit(main())
