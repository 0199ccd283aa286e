"""A wrong job definition fails at start-up, with a message that says what to fix."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from jobcast import ConfigError, JobContext, Jobs, load_jobs
from jobcast.errors import InvalidInput, UnknownJob


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


def test_input_is_validated_strictly_into_the_model() -> None:
    jobs = Jobs()
    jobs.job("x", input=In)(ok)
    parsed = jobs["x"].parse_json(b'{"n": 3}')
    assert isinstance(parsed, In) and parsed.n == 3
    for bad, field in ((b'{"n": "3"}', "n"), (b'{"n": true}', "n"), (b'{"n": 3.5}', "n"),
                       (b'{"n": 3, "extra": 1}', "extra"), (b'{}', "n")):
        with pytest.raises(InvalidInput) as err:
            jobs["x"].parse_json(bad)
        assert err.value.details[0]["field"] == field, bad
    with pytest.raises(UnknownJob, match="known jobs: x"):
        jobs["y"]


def test_strict_can_be_relaxed_per_job_or_by_the_model() -> None:
    from pydantic import ConfigDict

    class Lax(BaseModel):
        model_config = ConfigDict(extra="ignore")
        n: int

    jobs = Jobs()
    jobs.job("coerce", input=In, strict=False)(ok)
    jobs.job("extras", input=Lax)(ok)
    assert jobs["coerce"].parse_json(b'{"n": "3", "other": 1}').n == 3
    assert jobs["extras"].parse_json(b'{"n": 3, "other": 1}').n == 3  # the model said ignore
    with pytest.raises(InvalidInput):
        jobs["extras"].parse_json(b'{"n": "3"}')  # still no coercion


def test_strict_keeps_json_forms_of_rich_types() -> None:
    import datetime as dt
    import uuid

    class Rich(BaseModel):
        when: dt.datetime
        ref: uuid.UUID

    jobs = Jobs()
    jobs.job("rich", input=Rich)(ok)
    raw = b'{"when": "2026-12-01T10:00:00Z", "ref": "12345678-1234-5678-1234-567812345678"}'
    parsed = jobs["rich"].parse_json(raw)
    assert parsed.when.year == 2026 and str(parsed.ref).startswith("12345678")
    assert jobs["rich"].parse_json(jobs["rich"].dump(parsed)) == parsed  # stored, read back


def test_jobs_sharing_a_queue_must_run_alike() -> None:
    jobs = Jobs()
    jobs.job("resize", queue="images")(ok)
    jobs.job("crop", queue="images")(ok)
    assert [s.name for s in jobs.queues()["images"]] == ["resize", "crop"]
    with pytest.raises(ConfigError, match="must run alike"):
        jobs.job("tag", queue="images")(ok_async)


def test_load_jobs_explains_bad_references() -> None:
    assert set(load_jobs("jobcast.demo:jobs").names()) == {"report", "bulk", "story"}
    for ref, message in [("nomodule", "module:attribute"), ("no_such_mod:jobs", "cannot import"),
                         ("jobcast.demo:ReportIn", "is a ModelMetaclass, not a jobcast.Jobs"),
                         ("jobcast.demo:job", "has no attribute 'job'; it has jobs")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_jobs(ref)


def test_load_jobs_imports_from_the_app_dir(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "myapp_jobs_for_test.py").write_text(
        "from jobcast import Jobs\njobs = Jobs()\n@jobs.job('hello')\n"
        "async def hello(ctx, data):\n    return 1\n")
    assert load_jobs("myapp_jobs_for_test:jobs", app_dir=folder).names() == ["hello"]
