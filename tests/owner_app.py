"""An application that knows its users: jobs belong to whoever started them.

The "user" cookie stands in for a real session. Run it as the access tests do::

    PYTHONPATH=tests REDIS_URL=redis://... python -m uvicorn owner_app:app --port 8001
"""

from __future__ import annotations

from jobcast import Settings, create_app, load_jobs

app = create_app(load_jobs("sample_jobs:jobs"), Settings(),
                 owner=lambda client: client.cookies.get("user"))
