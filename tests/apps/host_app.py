"""Someone else's FastAPI app with jobcast inside it, mounted under /jobs, as the README shows.

The host keeps its own ``/``, ``/static`` and routes; jobcast serves everything under
``/jobs`` (API, Socket.IO, the browser client) and starts and stops with the host's lifespan.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from jobcast import Settings, create_app, load_jobs

HERE = Path(__file__).parent

jobcast_app = create_app(load_jobs("sample_jobs:jobs"), Settings.load())
app = FastAPI(lifespan=jobcast_app.lifespan)


@app.get("/")
async def home() -> FileResponse:
    return FileResponse(HERE / "host_static" / "index.html")


@app.get("/api/hello")
async def hello() -> dict[str, str]:
    return {"hello": "from the host"}


app.mount("/static", StaticFiles(directory=HERE / "host_static"), name="static")
app.mount("/jobs", jobcast_app)
