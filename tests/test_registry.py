"""A wrong job definition fails at start-up, with a message that says what to fix."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from jobcast import ConfigError, JobContext, Jobs, load_jobs
from jobcast.errors import InvalidInput, UnknownJobType


class In(BaseModel):
    n: int


def ok(ctx: JobContext, data: In) -> None: ...


async def ok_async(ctx: JobContext, data: In) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "handler", "message"),
    [
        ({"name": "Bad Name"}, ok, "a name is"),
        ({"name": "x", "input": dict}, ok, "pydantic BaseModel"),
        ({"name": "x", "cpu_bound": True}, ok_async, "plain def"),
        ({"name": "x", "attempts": 0}, ok, "attempts"),
        ({"name": "x", "timeout": -1}, ok, "timeout"),
        ({"name": "x"}, lambda ctx: None, "exactly (ctx, data)"),
    ],
)
def test_bad_definitions_are_refused(kwargs: dict, handler: object, message: str) -> None:
    jobs = Jobs()
    name = kwargs.pop("name")
    with pytest.raises(ConfigError, match=re.escape(message)):
        jobs.job(name, **kwargs)(handler)  # type: ignore[arg-type]


def test_cpu_bound_handlers_must_be_importable() -> None:
    def local(ctx: JobContext, data: In) -> None: ...

    with pytest.raises(ConfigError, match="module level"):
        Jobs().job("x", cpu_bound=True)(local)


def test_duplicate_names_are_refused() -> None:
    jobs = Jobs()
    jobs.job("x")(ok)
    with pytest.raises(ConfigError, match="twice"):
        jobs.job("x")(ok)


def test_input_is_validated_into_the_model() -> None:
    jobs = Jobs()
    jobs.job("x", input=In)(ok)
    assert jobs["x"].parse({"n": "3"}) == In(n=3)
    with pytest.raises(InvalidInput) as err:
        jobs["x"].parse({"n": "three"})
    assert err.value.details[0]["field"] == "n"
    with pytest.raises(UnknownJobType, match="known jobs: x"):
        jobs["y"]


def test_load_jobs_explains_bad_references() -> None:
    assert set(load_jobs("jobcast.demo:jobs").names()) == {"report", "bulk"}
    for ref, message in [("nomodule", "module:attribute"), ("no_such_mod:jobs", "cannot import"),
                         ("jobcast.demo:ReportIn", "not a jobcast.Jobs")]:
        with pytest.raises(ConfigError, match=message):
            load_jobs(ref)
