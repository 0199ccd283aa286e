"""Streamed output and live job logs: stored per job in Redis, each entry announced on the
queue's event stream with its place (seq), so every subscriber gets every entry exactly once
and in order, whenever it joins."""

from .store import KINDS, Entry, OutputOverflow, append_call, read_entries
from .writer import StreamWriter

__all__ = ["KINDS", "Entry", "OutputOverflow", "StreamWriter", "append_call", "read_entries"]
