"""The client package (clients/js, jobcast-client) by its own tools: its build (ESM, CJS, .d.ts
and the script build), its vitest suite (the core and the React hooks against a real
`jobcast up` its global setup starts: no mocked socket), and tsc over sources and tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import REPO, require_tool

CLIENT = REPO / "clients" / "js"


def _npm(*args: str, timeout: float, env: dict[str, str] | None = None) -> str:
    npm = require_tool("npm", "Node.js 18+ with npm; .ci/run's machine has it")
    done = subprocess.run([npm, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"npm {' '.join(args)} exited {done.returncode}:\n{output[-6000:]}"
    return output


def test_the_client_package_builds_and_its_vitest_suite_passes_with_no_skips(
        tmp_path: Path) -> None:
    report = tmp_path / "vitest.json"
    env = {**os.environ, "JOBCAST_BIN": str(Path(sys.executable).with_name("jobcast"))}
    _npm("test", "--workspace", "clients/js", "--", "--reporter=default", "--reporter=json",
         f"--outputFile.json={report}", timeout=300, env=env)
    results = json.loads(report.read_text())
    counts = {key: results[key] for key in ("numTotalTests", "numPassedTests", "numFailedTests",
                                            "numPendingTests", "numTodoTests")}
    # Every test ran and passed: a skip (a missing build, a missing tool) is a failure here.
    assert counts["numPassedTests"] == counts["numTotalTests"] >= 30, counts
    files = {Path(r["name"]).name for r in results["testResults"]}
    assert {"core.test.ts", "react.test.tsx", "contract.test.ts", "ssr.test.tsx",
            "build.test.ts"} <= files, files
    for name in ("index.mjs", "index.js", "index.d.ts", "react.mjs", "browser/jobcast.js"):
        assert (CLIENT / "dist" / name).is_file(), name


def test_the_client_package_typechecks() -> None:
    _npm("run", "typecheck", "--workspace", "clients/js", timeout=120)
