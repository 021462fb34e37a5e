"""``modocr zdr check``: canary inputs through the pipeline, then a search of all modocr wrote.

Unique canary strings go into every place a producer can put content (post text, turns, a PDF's
text layer, a scanned image, filenames, metadata, inputs that fail); the search covers every row
of every table, the logs captured at DEBUG, the flagged/decisions/DLQ topics and temp files.
"""

from __future__ import annotations

from pipeline.zdr.canaries import PLACES, make_canaries
from pipeline.zdr.check import check_embedded, run_check
from pipeline.zdr.report import CheckReport, Finding

__all__ = [
    "PLACES",
    "CheckReport",
    "Finding",
    "check_embedded",
    "make_canaries",
    "run_check",
]
