"""Arbitrary bytes and JSON at the decoders: a message or InvalidMessageError, nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InvalidMessageError
from pipeline.kafka.codec import decode, peek_identity
from schemas.topics import ADAPTERS

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=25,
)
pytestmark = pytest.mark.slow

KEYS = st.sampled_from(
    ["kind", "id", "tenant", "source", "text", "messages", "content_type", "data_base64", "url"]
)
ALMOST = st.fixed_dictionaries(
    {"kind": st.sampled_from(["text", "conversation", "inline", "url", "x"]), "id": st.text()},
    optional={key: JSON for key in ["tenant", "source", "text", "messages", "content_type"]},
)


def _reasons(raw: bytes) -> list[str]:
    """Decode with every topic's adapter; the reasons of those that refused."""
    reasons = []
    for adapter in ADAPTERS.values():
        try:
            decode(adapter, raw)
        except InvalidMessageError as exc:
            reasons.append(str(exc))
    return reasons


def _decode_everywhere(raw: bytes) -> None:
    assert all(_reasons(raw))
    peek_identity(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash_the_decoders(raw: bytes) -> None:
    """Random bytes decode to a message or raise InvalidMessageError."""
    _decode_everywhere(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | st.dictionaries(KEYS, JSON, max_size=6) | ALMOST)
def test_arbitrary_json_never_crashes_the_decoders(value: object) -> None:
    """Any JSON document, including near-valid messages, decodes or raises InvalidMessageError."""
    _decode_everywhere(json.dumps(value).encode())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40))
def test_reasons_never_quote_the_input(secret: str) -> None:
    """A schema violation's reason names fields and rules, not the offending values."""
    raw = json.dumps({"kind": "text", "id": "", "text": secret + "CANARY-7f3a"}).encode()
    assert not any("CANARY-7f3a" in reason for reason in _reasons(raw))
