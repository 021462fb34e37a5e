"""The workers: a spec and a handler each; ``REGISTRY`` is read by ``modocr run``."""

from pipeline import purge
from pipeline.worker import WorkerSpec
from workers import moderation, ocr, relay

REGISTRY: dict[str, WorkerSpec] = {
    "moderation": moderation.SPEC,
    "ocr": ocr.SPEC,
    "relay": relay.SPEC,
    "purge": purge.SPEC,
}
