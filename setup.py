"""The build hook: a wheel carries the browser client, built from clients/js (the jobcast-client
package, whose script-tag build is served at /jobcast/jobcast.js) with socket.io-client's own
build beside it in vendor/, both from npm at build time (pinned by package-lock.json) and
never committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DASHBOARD_VENDOR = ROOT / "src" / "jobcast" / "dashboard" / "static" / "vendor"
UPLOT = ROOT / "node_modules" / "uplot" / "dist"
CHART = ("uPlot.iife.min.js", "uPlot.min.css")
"""The dashboard's chart library (uPlot, pinned by package-lock.json), copied from npm."""
BROWSER = ROOT / "src" / "jobcast" / "browser"
VENDOR = BROWSER / "vendor"
CLIENT_BUILD = ROOT / "clients" / "js" / "dist" / "browser"
SOCKET_IO = ROOT / "node_modules" / "socket.io-client" / "dist"
OUTPUTS = (BROWSER / "jobcast.js", VENDOR / "socket.io.min.js")


def build_browser_client(force: bool = False) -> None:
    """Build clients/js's browser bundle and copy it and socket.io-client's into the package
    (skipped when both are there, unless ``force``: the Makefile forces it when a source
    changed; a Docker build puts them there itself)."""
    if not force and all(path.is_file() for path in OUTPUTS):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building jobcast needs npm (the browser client is built from clients/js, "
                         "with socket.io-client, pinned by package-lock.json)")
    installed = ROOT / "node_modules" / ".package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < (ROOT / "package-lock.json").stat().st_mtime:
        # None yet, or from an older lockfile (it may lack the client's build tools).
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT, check=True)
    subprocess.run([npm, "run", "--silent", "build:browser", "--workspace", "clients/js"],
                   cwd=ROOT, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, target in ((CLIENT_BUILD / "jobcast.js", BROWSER / "jobcast.js"),
                           (CLIENT_BUILD / "jobcast.js.map", BROWSER / "jobcast.js.map"),
                           (SOCKET_IO / "socket.io.min.js", VENDOR / "socket.io.min.js"),
                           (SOCKET_IO / "socket.io.min.js.map", VENDOR / "socket.io.min.js.map")):
        shutil.copy2(source, target)


def build_dashboard_assets(force: bool = False) -> None:
    """Copy the dashboard's chart library from npm into the package (skipped when it is there,
    unless ``force``; a Docker build puts it there itself)."""
    if not force and all((DASHBOARD_VENDOR / name).is_file() for name in CHART):
        return
    if not all((UPLOT / name).is_file() for name in CHART):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("building jobcast needs npm (the dashboard's chart library, uPlot, "
                             "pinned by package-lock.json)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT, check=True)
    DASHBOARD_VENDOR.mkdir(parents=True, exist_ok=True)
    for name in CHART:
        shutil.copy2(UPLOT / name, DASHBOARD_VENDOR / name)


class BuildWithBrowserClient(build_py):
    def run(self) -> None:
        build_browser_client()
        build_dashboard_assets()
        super().run()


if __name__ == "__main__":  # setuptools runs this file as __main__; the Makefile imports it
    setup(cmdclass={"build_py": BuildWithBrowserClient})
