"""Tokens, signed session cookies and CSRF tokens."""

from __future__ import annotations

import pytest

from pipeline.review.auth import SessionSigner, has_role, hash_token, new_token


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    """Two tokens differ; the hash is a 64-hex SHA-256, stable, and not the token."""
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) >= 43
    assert hash_token(first) == hash_token(first) != first
    assert len(hash_token(first)) == 64


def test_roles_are_ordered() -> None:
    """viewer < reviewer < admin; unknown roles have none."""
    assert has_role("admin", "reviewer")
    assert has_role("reviewer", "viewer")
    assert not has_role("viewer", "reviewer")
    assert not has_role("root", "viewer")


def test_session_round_trip_and_expiry() -> None:
    """A cookie verifies until max_age, then it does not."""
    clock = Clock()
    signer = SessionSigner(b"s" * 32, max_age_s=60, clock=clock)
    cookie = signer.issue(7)
    session = signer.verify(cookie)
    assert session is not None
    assert session.reviewer_id == 7
    clock.now += 61
    assert signer.verify(cookie) is None


@pytest.mark.parametrize("mangle", ["flip", "swap-key", "empty", "dots", "garbage"])
def test_forged_cookies_are_refused(mangle: str) -> None:
    """A changed payload, another key or junk never verifies."""
    signer = SessionSigner(b"s" * 32)
    cookie = signer.issue(1)
    payload, mac = cookie.split(".")
    forged = {
        "flip": f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}",
        "swap-key": SessionSigner(b"t" * 32).issue(1),
        "empty": "",
        "dots": "a.b.c",
        "garbage": f"!!!.{mac}",
    }[mangle]
    assert signer.verify(forged) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    """The CSRF token of one session does not pass for another."""
    signer = SessionSigner(b"s" * 32)
    one = signer.verify(signer.issue(1))
    two = signer.verify(signer.issue(1))
    assert one is not None
    assert two is not None
    assert signer.check_csrf(one, signer.csrf_token(one))
    assert not signer.check_csrf(two, signer.csrf_token(one))
    assert not signer.check_csrf(one, None)


def test_short_keys_are_refused() -> None:
    """HMAC keys under 16 bytes are a configuration mistake."""
    with pytest.raises(ValueError, match="16 bytes"):
        SessionSigner(b"short")
