"""Cancels reach the worker that runs the job: instantly over a channel, and through the cancel
record in Redis, which a missed message cannot lose."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from .. import names
from ..redis import REDIS_ERRORS, REDIS_FAULTS, FastRedis
from .running import RunningJobs

log = logging.getLogger("jobcast.worker")

SWEEP_S = 2.0


async def listen_for_cancels(redis: Redis, running: RunningJobs) -> None:
    """Stop jobs this process runs when someone cancels them (from any web process)."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(names.CANCEL_CHANNEL)
            async for message in pubsub.listen():
                queue, _, job_id = str(message["data"]).partition(":")
                job = running.get(queue, job_id)
                if job is not None and not job.cancel_requested:
                    log.info("cancelling job %s %s", queue, job_id)
                    job.cancel()
        except REDIS_ERRORS as err:
            log.warning("cancel listener: Redis unreachable (%s); retrying", err)
            await asyncio.sleep(1)
        finally:
            await pubsub.aclose()


async def sweep_cancel_records(fast: FastRedis, running: RunningJobs) -> None:
    """The channel is instant but can miss a message (the listener reconnecting, a job not
    registered yet); the cancel record cannot. Look for it now and then."""
    while True:
        await asyncio.sleep(SWEEP_S)
        jobs = list(running)
        if not jobs:
            continue
        try:
            marks = await fast.call("MGET", *[names.cancel_key(j.queue, j.id) for j in jobs])
        except REDIS_FAULTS:
            continue
        for job, mark in zip(jobs, marks, strict=True):
            if mark and running.holds(job) and not job.cancel_requested:
                log.info("cancelling job %s %s (its cancel record)", job.queue, job.id)
                job.cancel()
