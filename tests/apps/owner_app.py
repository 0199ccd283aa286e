"""An application that knows its users: jobs belong to whoever started them.

The "user" cookie stands in for a real session. ``app`` asks a plain function who the client
is; ``async_app`` asks a coroutine that takes its time, as a session store would (the window
in which a refused socket must still see nothing). Run it as the access tests do::

    PYTHONPATH=tests/apps REDIS_URL=redis://... python -m uvicorn owner_app:app --port 8001
"""

from __future__ import annotations

import asyncio

from jobcast import Caller, Settings, create_app, load_jobs


def user_of(client: Caller) -> str | None:
    return client.cookies.get("user")


async def slow_user_of(client: Caller) -> str | None:
    await asyncio.sleep(0.02)
    return client.cookies.get("user")


app = create_app(load_jobs("sample_jobs:jobs"), Settings.load(), owner=user_of)
async_app = create_app(load_jobs("sample_jobs:jobs"), Settings.load(), owner=slow_user_of)
