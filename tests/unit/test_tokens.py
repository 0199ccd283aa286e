"""Watch tokens alone: one job, read-only, until they expire; rotation; every forgery refused
with its reason."""

from __future__ import annotations

import pytest

from jobcast.web.tokens import BadToken, WatchTokens

NEW, OLD = "n" * 32, "o" * 32


def test_a_token_opens_its_job_until_it_expires() -> None:
    tokens = WatchTokens([NEW], ttl_s=60)
    token = tokens.issue("job-1", now=1000)
    tokens.check(token, "job-1", now=1059)
    with pytest.raises(BadToken, match="expired"):
        tokens.check(token, "job-1", now=1061)
    with pytest.raises(BadToken, match="another job"):
        tokens.check(token, "job-2", now=1000)


def test_forged_and_malformed_tokens_are_refused() -> None:
    tokens = WatchTokens([NEW], ttl_s=60)
    token = tokens.issue("job-1", now=1000)
    encoded, expires, signature = token.split(".")
    for forged in (f"{encoded}.{int(expires) + 3600}.{signature}",   # a longer life
                   WatchTokens(["x" * 32], 60).issue("job-1", now=1000),  # another secret
                   f"{encoded}.{expires}.{signature[:-2]}AA"):
        with pytest.raises(BadToken, match="invalid watch token"):
            tokens.check(forged, "job-1", now=1000)
    for malformed in ("", "a.b", "a.b.c.d", f"{encoded}.soon.{signature}", "é.1.é"):
        with pytest.raises(BadToken, match="malformed"):
            tokens.check(malformed, "job-1", now=1000)


def test_rotation_signs_with_the_first_secret_and_accepts_all() -> None:
    old_token = WatchTokens([OLD], 60).issue("job-1", now=1000)
    rotated = WatchTokens([NEW, OLD], 60)
    rotated.check(old_token, "job-1", now=1000)
    WatchTokens([NEW], 60).check(rotated.issue("job-1", now=1000), "job-1", now=1000)
    with pytest.raises(BadToken):
        WatchTokens([NEW], 60).check(old_token, "job-1", now=1000)  # the old secret retired
