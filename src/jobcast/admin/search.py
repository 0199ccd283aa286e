"""Searching a state's jobs: by id, by a field of their data, or by any text in it, and the one
script that reads a page's rows (and a filter's matches) in one round trip."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .._bullmq import decode_json
from ..redis.fast import Script

_FIELD = re.compile(r"([A-Za-z_][\w.-]{0,100})\s*[:=]\s*(.+)", re.S)
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')

# One round trip for a page's rows, and for a filter's scan: jobcast's own (BullMQ has no
# script for it). It reads the fields a row shows, keeps the jobs whose name and data match,
# and returns only a preview of their data, so a page never moves megabytes.
ROWS = Script("""
local name, needle, preview, whole = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == "1"
local out = {}
for i, key in ipairs(KEYS) do
  local f = redis.call("HMGET", key, "name", "timestamp", "processedOn", "finishedOn", "atm",
                       "progress", "failedReason", "delay", "jcstate", "opts")
  if f[1] or f[2] then
    if name == "" or f[1] == name then
      local data = redis.call("HGET", key, "data") or ""
      if needle == "" or string.find(string.lower(data), needle, 1, true) then
        if f[7] then f[7] = string.sub(f[7], 1, 300) end
        if not whole then data = string.sub(data, 1, preview) end
        out[#out + 1] = {i - 1, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10],
                         data}
      end
    end
  end
end
return out
""", "jobcast-admin-rows")


@dataclass(frozen=True)
class Search:
    """A search as typed: a job id, ``field:value`` (a path into the data, dots for nesting;
    its text contains the value, ignoring case) or any text the data contains."""

    text: str
    path: tuple[str, ...] = ()
    value: str = ""

    @classmethod
    def parse(cls, text: str | None) -> Search | None:
        text = (text or "").strip()
        if not text:
            return None
        found = _FIELD.fullmatch(text)
        if found:
            return cls(text, tuple(found[1].split(".")), found[2].strip().lower())
        return cls(text, (), text.lower())

    @property
    def needle(self) -> str:
        """What the stored JSON must contain (checked in Redis, before the data moves); empty
        when the value would be escaped in JSON (then only the exact check runs)."""
        return "" if _JSON_ESCAPED.search(self.value) else self.value

    def matches(self, data_json: str) -> bool:
        if not self.path:
            return self.value in data_json.lower()
        value: Any = decode_json(data_json)
        for part in self.path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return False
        if isinstance(value, (dict, list)):
            text = orjson.dumps(value).decode()
        elif isinstance(value, bool) or value is None:
            text = orjson.dumps(value).decode()
        else:
            text = str(value)
        return self.value in text.lower()


