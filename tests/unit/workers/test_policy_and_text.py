"""The policy (booleans or thresholds), text splitting for moderation, and URL intake rules."""

from __future__ import annotations

import pytest

from pipeline.errors import UnsupportedContentError
from pipeline.intake import check_url
from pipeline.policy import Policy
from schemas.documents import UrlDocument
from workers.ocr import split_text


def test_default_policy_follows_the_api_booleans() -> None:
    """Without thresholds, a category flags exactly when the API said so."""
    policy = Policy(version="v", thresholds={})
    judgement = policy.judge({"pii": True, "sexual": False}, {"pii": 0.4, "sexual": 0.9})
    assert judgement.flagged_categories == ["pii"]
    assert judgement.max_score == 0.4


def test_thresholds_override_the_api_booleans() -> None:
    """A category with a threshold flags when its score reaches it, whatever the boolean."""
    policy = Policy(version="v", thresholds={"sexual": 0.8, "pii": 0.5})
    judgement = policy.judge({"pii": True, "sexual": False}, {"pii": 0.4, "sexual": 0.9})
    assert judgement.flagged_categories == ["sexual"]


def test_combine_takes_the_maximum_per_category() -> None:
    """A document's verdict is the worst of its pages."""
    policy = Policy(version="v", thresholds={})
    pages = [
        policy.judge({"pii": False}, {"pii": 0.1, "law": 0.3}),
        policy.judge({"pii": True}, {"pii": 0.9, "law": 0.1}),
    ]
    combined = policy.combine(pages)
    assert combined.category_scores == {"pii": 0.9, "law": 0.3}
    assert combined.flagged_categories == ["pii"]


@pytest.mark.parametrize("size", [10, 100, 1000])
def test_split_text_keeps_every_word_within_the_limit(size: int) -> None:
    """Pieces are at most ``size`` characters and together hold every word, in order."""
    text = "\n\n".join(" ".join(f"word{i}-{j}" for j in range(40)) for i in range(30))
    pieces = split_text(text, size)
    assert all(len(p) <= size for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/a.pdf", "https"),
        ("https://user:pw@example.com/a.pdf", "credentials"),
        ("https://10.0.0.8/a.pdf", "non-public"),
        ("https://[::1]/a.pdf", "non-public"),
        ("https://169.254.169.254/a", "non-public"),
        ("https://printer.local/a.pdf", "local host"),
        ("ftp://example.com/a.pdf", "https"),
    ],
)
def test_document_urls_must_be_public_https(url: str, reason: str) -> None:
    """modocr never asks Mistral to fetch from inside the network."""
    document = UrlDocument(id="d", kind="url", content_type="application/pdf", url=url)
    with pytest.raises(UnsupportedContentError, match=reason):
        check_url(document)


def test_a_public_https_url_passes() -> None:
    document = UrlDocument(
        id="d", kind="url", content_type="application/pdf", url="https://example.com/a.pdf"
    )
    assert check_url(document) == "https://example.com/a.pdf"
