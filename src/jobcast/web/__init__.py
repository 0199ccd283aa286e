"""The web side: HTTP API, Socket.IO rooms, the access hooks, create_app()."""

from .access import Access, AccessPolicy, Client
from .app import JobcastApp, create_app

__all__ = ["Access", "AccessPolicy", "Client", "JobcastApp", "create_app"]
