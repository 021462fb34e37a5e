"""``python -m bench run SCENARIO [--json] [--baseline naive]``: see bench/cli.py."""

from bench.cli import main

if __name__ == "__main__":  # not when a spawned child (bench.load) imports the main module
    raise SystemExit(main())
