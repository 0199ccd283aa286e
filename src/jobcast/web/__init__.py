"""The web side: HTTP API, Socket.IO rooms, the access hooks, create_app()."""

from .access import Access, AccessPolicy, Caller
from .app import JobcastApp, create_app

__all__ = ["Access", "AccessPolicy", "Caller", "JobcastApp", "create_app"]
