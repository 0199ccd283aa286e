"""A configuration typo is one line naming the variable (or flag) and the form it takes."""

from __future__ import annotations

import pytest

from jobcast import ConfigError, Settings


@pytest.mark.parametrize(("env", "message"), [
    ({"JOBCAST_ENQUEUE_RATE": "30/min"}, "JOBCAST_ENQUEUE_RATE='30/min': expected 0 (no limit) "
                                         "or N/second, N/minute or N/hour"),
    ({"JOBCAST_PORT": "80a"}, "JOBCAST_PORT='80a': input should be a valid integer"),
    ({"JOBCAST_PORT": "99999"}, "JOBCAST_PORT='99999': input should be less than or equal to 65535"),
    ({"REDIS_URL": "127.0.0.1:6391"}, "REDIS_URL='127.0.0.1:6391': not a Redis URL"),
    ({"JOBCAST_CONCURRENCY": "0"}, "JOBCAST_CONCURRENCY='0': input should be greater than"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                        message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        Settings.load()
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_a_bad_flag_names_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^--port=99999: input should be less"):
        Settings.load({"port": 99999}, {"port": "--port"})


def test_rates_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBCAST_ENQUEUE_RATE", "30/minute")
    rate = Settings.load().enqueue_rate
    assert (rate.limit, rate.window_s, str(rate)) == (30, 60, "30/minute")


def test_redis_urls_mean_what_redis_py_says(monkeypatch: pytest.MonkeyPatch) -> None:
    for url, where in (("redis://h:1/5", "h:1 db 5"), ("redis://h:1?db=5", "h:1 db 5"),
                       ("rediss://u:p@h:2/0", "h:2 db 0 (TLS)"),
                       ("unix:///tmp/r.sock?db=2", "unix:/tmp/r.sock db 2")):
        assert Settings(redis_url=url).redis_target().where == where, url
    with pytest.raises(ConfigError, match="needs REDIS_URL"):
        Settings(redis_url=None).redis_target("jobcast web")


def test_settings_travel_to_child_processes_by_their_names() -> None:
    env = Settings(redis_url="redis://h:1/0", port=9000, demo_page=True).to_env()
    assert env["REDIS_URL"] == "redis://h:1/0" and env["JOBCAST_PORT"] == "9000"
    assert env["JOBCAST_DEMO_PAGE"] == "true" and env["JOBCAST_ENQUEUE_RATE"] == "0"
