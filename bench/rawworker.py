"""Raw worker throughput, Python side: how fast one worker process drains a pre-filled queue.

The queue is filled beforehand by ``node bench/node-baseline/rawworker.js fill QUEUE N`` (N no-op
jobs with random 22-character ids), so every drainer sees exactly the same jobs. Each job does one
progress update (100) and returns ``{"ok": true}``. The clock runs from the worker's start to the
Nth finished job.

    REDIS_URL=redis://127.0.0.1:6379/9 python bench/rawworker.py --impl bullmq --queue rawbench \
        --jobs 10000 --concurrency 50

``--impl bullmq``  the plain bullmq (Python) ``Worker``: the naive reference.
``--impl jobcast`` jobcast's worker (``jobcast.worker.JobWorker``), with a registry holding one
                   async job named after the queue. Exits with status 3 and
                   ``{"skipped": "..."}`` when jobcast's worker API is not there.

Prints one JSON line: ``{impl, queue, jobs, failed, concurrency, secs, jobs_per_s}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

SKIPPED = 3


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def drain_bullmq(redis_url: str, queue: str, n: int, concurrency: int) -> dict:
    from bullmq import Worker

    done = asyncio.Event()
    counts = {"completed": 0, "failed": 0}

    async def processor(job, token):
        await job.updateProgress(100)
        return {"ok": True}

    t0 = time.perf_counter()
    worker = Worker(queue, processor, {"connection": redis_url, "concurrency": concurrency})
    worker.on("completed", _counter(counts, "completed", n, done))
    worker.on("failed", _counter(counts, "failed", n, done))
    await done.wait()
    secs = time.perf_counter() - t0
    await worker.close()
    return _result("python-bullmq", queue, counts, concurrency, secs)


async def drain_jobcast(redis_url: str, queue: str, n: int, concurrency: int) -> dict:
    """jobcast's worker (``jobcast.worker.JobWorker``) on the same queue, in this process.

    The registry holds one async job named after the queue; its handler reports progress 100
    (jobcast coalesces and flushes it: one update per job, like the others) and returns.
    The end is seen from Redis, not from jobcast's internals: the queue is drained when its
    wait/active/paused/prioritized/delayed sets are all empty (BullMQ moves a job from wait to
    active and from active to completed/failed atomically, in Lua). Polled every 2 ms.
    TODO(jobcast API): if JobWorker's constructor or run(stop) change, adapt the two lines below.
    """
    os.environ["REDIS_URL"] = redis_url
    os.environ["JOBCAST_CONCURRENCY"] = str(concurrency)
    if "JOBCAST_DATA_DIR" not in os.environ:
        data_dir = tempfile.TemporaryDirectory(prefix="jobcast-rawbench-")
        os.environ["JOBCAST_DATA_DIR"] = data_dir.name  # removed when the process exits
    try:
        from redis.asyncio import Redis

        from jobcast.registry import Jobs
        from jobcast.settings import Settings
        from jobcast.worker import JobWorker
    except ImportError as err:
        reason = f"TODO: jobcast.worker.JobWorker not importable ({err})"
        return {"impl": "jobcast", "skipped": reason}

    jobs = Jobs()

    async def noop(ctx, data):  # jobcast wants exactly (ctx, data)
        ctx.progress(100)
        return {"ok": True}

    jobs.job(queue)(noop)
    redis = Redis.from_url(redis_url)
    prefix = f"bull:{queue}"
    if await redis.llen(f"{prefix}:wait") < n:
        await redis.aclose()
        return {"impl": "jobcast", "skipped": f"queue {queue} holds fewer than {n} waiting jobs"}
    stop = asyncio.Event()

    t0 = time.perf_counter()
    runner = asyncio.ensure_future(JobWorker(jobs, Settings()).run(stop))
    while True:
        await asyncio.sleep(0.002)
        if runner.done():
            await runner  # raises what the worker raised
            return {"impl": "jobcast", "skipped": "JobWorker.run returned early"}
        async with redis.pipeline(transaction=False) as pipe:
            for key in ("wait", "active", "paused"):
                pipe.llen(f"{prefix}:{key}")
            for key in ("prioritized", "delayed"):
                pipe.zcard(f"{prefix}:{key}")
            if not sum(await pipe.execute()):
                break
    secs = time.perf_counter() - t0
    failed = await redis.zcard(f"{prefix}:failed")
    await redis.aclose()
    stop.set()
    await runner
    counts = {"completed": n - failed, "failed": failed}
    return _result("jobcast", queue, counts, concurrency, secs)


def _counter(counts: dict, kind: str, n: int, done: asyncio.Event):
    def handler(*_args):
        counts[kind] += 1
        if counts["completed"] + counts["failed"] >= n:
            done.set()

    return handler


def _result(impl: str, queue: str, counts: dict, concurrency: int, secs: float) -> dict:
    return {
        "impl": impl,
        "queue": queue,
        "jobs": counts["completed"],
        "failed": counts["failed"],
        "concurrency": concurrency,
        "secs": round(secs, 3),
        "jobs_per_s": round(counts["completed"] / secs, 1) if secs > 0 else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["bullmq", "jobcast"], required=True)
    ap.add_argument("--queue", default="rawbench")
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = ap.parse_args()
    drain = drain_bullmq if args.impl == "bullmq" else drain_jobcast
    result = asyncio.run(drain(args.redis_url, args.queue, args.jobs, args.concurrency))
    emit(result)
    return SKIPPED if "skipped" in result else 0


if __name__ == "__main__":
    sys.exit(main())
