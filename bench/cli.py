"""The benchmark's command line: ``python -m bench run SCENARIO --json [--baseline naive]``.

Prints the scenario's JSON on stdout (``--json``; a short table otherwise) and writes it to
``bench/results/<scenario>.json``. Exit code 1 when the scenario misses its target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bench.scenarios import SCENARIOS, Options

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one scenario")
    run.add_argument("scenario", choices=sorted(SCENARIOS))
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--baseline", choices=["naive"], help="also run the naive consumer")
    run.add_argument("--duration", type=float, help="seconds (scenario-specific default)")
    run.add_argument("--messages", type=int, help="messages (scenario-specific default)")
    commands.add_parser("list", help="list the scenarios")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, scenario in sorted(SCENARIOS.items()):
            sys.stdout.write(f"{name}: {(scenario.__doc__ or '').strip()}\n")
        return 0
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = Options(baseline=args.baseline, duration_s=args.duration, messages=args.messages)
    result = asyncio.run(SCENARIOS[args.scenario](options))
    RESULTS.mkdir(exist_ok=True)
    suffix = "-naive" if args.baseline else ""
    (RESULTS / f"{args.scenario}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        for key, value in result.items():
            sys.stdout.write(f"{key:>24}: {value}\n")
    return 0 if result.get("pass", True) else 1
