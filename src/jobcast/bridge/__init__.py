"""The bridge: one reader of every queue's event stream per web process, and the ledger that
turns its events (and each join's snapshot) into exactly-once Socket.IO deliveries."""

from .ledger import Delivery, JoinRefused, Ledger
from .reader import EventStreamReader
from .relay import Relay

__all__ = ["Delivery", "EventStreamReader", "JoinRefused", "Ledger", "Relay"]
