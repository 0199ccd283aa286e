"""jobcast's own job ids: unguessable, and usable as a command-line argument."""

from __future__ import annotations

from unittest import mock

from jobcast import ids


def test_own_ids_are_22_base64url_characters_and_all_different() -> None:
    made = {ids.new_job_id() for _ in range(5000)}
    assert len(made) == 5000
    assert all(ids.is_own_id(job_id) and ids.is_file_safe(job_id) for job_id in made)


def test_an_id_never_starts_with_a_dash_a_cli_would_read_it_as_an_option() -> None:
    draws = iter(["-qp3kUCqoLaWscqVF23r1Q", "--3kUCqoLaWscqVF23r1Q", "qp3kUCqoLaWscqVF23r1Q-"])
    with mock.patch.object(ids.secrets, "token_urlsafe", lambda _n: next(draws)):
        assert ids.new_job_id() == "qp3kUCqoLaWscqVF23r1Q-"
    assert not any(ids.new_job_id().startswith("-") for _ in range(5000))
