"""Write the JSON Schema of every topic to ``schemas/json/`` (``python -m schemas.export``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.topics import ADAPTERS

JSON_DIR = Path(__file__).parent / "json"


def render() -> dict[str, str]:
    """Topic file name → its JSON Schema, as the text checked into ``schemas/json/``."""
    return {
        f"{topic}.schema.json": json.dumps(adapter.json_schema(), indent=2, sort_keys=True) + "\n"
        for topic, adapter in ADAPTERS.items()
    }


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {JSON_DIR / name}\n")


if __name__ == "__main__":
    main()
