"""BullMQ 6's wire protocol, in one place: keys, scripts, their argument packing, and the
decoding of stored jobs and stream events. Nothing outside this package knows a key layout
or a script's ARGV.
"""

from . import calls
from .events import QueueEvent, decode_entry
from .keys import QueueKeys
from .records import JobRecord, NextJob, decode_json, next_job
from .scripts import VERIFIED, ScriptMissing, script

__all__ = ["VERIFIED", "JobRecord", "NextJob", "QueueEvent", "QueueKeys", "ScriptMissing",
           "calls", "decode_entry", "decode_json", "next_job", "script"]
