"""The build hook: a wheel carries the browser's socket.io client, built from npm at build time
(pinned by package-lock.json) and never committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "src" / "jobcast" / "browser" / "vendor"
ASSET = "socket.io.min.js"


def build_browser_client() -> None:
    if (VENDOR / ASSET).is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building jobcast needs npm (for the browser's socket.io client, "
                         "pinned by package-lock.json)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT, check=True)
    dist = ROOT / "node_modules" / "socket.io-client" / "dist"
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name in (ASSET, f"{ASSET}.map"):
        if (dist / name).is_file():
            shutil.copy2(dist / name, VENDOR / name)


class BuildWithBrowserClient(build_py):
    def run(self) -> None:
        build_browser_client()
        super().run()


if __name__ == "__main__":  # setuptools runs this file as __main__; the Makefile imports it
    setup(cmdclass={"build_py": BuildWithBrowserClient})
