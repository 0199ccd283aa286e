"""BullMQ's own Lua scripts, as the installed bullmq package ships them, loaded by name.

jobcast never copies or edits a script: it runs the ones in ``bullmq/commands``, so the protocol
is exactly BullMQ 6's. Each file is ``<name>-<number of keys>.lua``; the key count is checked on
every call we build (calls.py), and VERIFIED pins the versions jobcast was checked against
(tests/unit/test_bullmq_scripts.py fails loudly when an upgrade changes one).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import bullmq

from ..redis.fast import Script

COMMANDS = Path(bullmq.__file__).parent / "commands"

VERIFIED = {
    # name: sha1 of the source that jobcast's argument packing was checked against
    # (bullmq 3.4.4 on PyPI, the scripts of Node BullMQ 6.7.0).
    "addStandardJob": "10f8d228e89ed4f765afc5b3bafb6defbb84e311",
    "addDelayedJob": "ef55a5770d2c32d68b8528f29ced32261188aa30",
    "addPrioritizedJob": "7fe9ddf6854813edeaaa9b83839ac94693b1de8f",
    "addLog": "eecb06ad6c96fa5da4fa8bca0ea7a1bf1bf62f18",
    "cleanJobsInSet": "d4b4530a1de226c532b5256e3dafa5cdc1641a6a",
    "extendLocks": "c35baf769e5dc3d9194b2bceca04ab59f7c510f7",
    "getCounts": "a8034c631460c6803c87966ce881636246de2398",
    "getMetrics": "4a4a04e444061d5a3ae7f4d99f91dbee96f07b62",
    "getStateV2": "5e107aa7dd123c4a80fc40151f8d25596c39353a",
    "moveJobFromActiveToWait": "2f746a769bc3d182a0f73ace6bb7a4906faf5df9",
    "moveStalledJobsToWait": "1e9bb7deb6219644a634d32c430ce15ed39a377e",
    "moveToActive": "d96ca626f1ea141b44a856b312fc636d99aa9ea9",
    "moveToDelayed": "9f83944d6edafd63c74121d73299dd3358ddfe0c",
    "moveToFinished": "69666e69dd5621df59067a03de685e55a486560d",
    "pause": "8c25f7be363de2a28428dae13ddc20ffb3f6e7aa",
    "promote": "1d740f19fe984343737df70206877be7cbab6913",
    "removeJob": "574af105e7df948fdf7e5410f3190a87f037d7f3",
    "reprocessJob": "1323ff649a78371c602a52252e61dc9f2fdfe36d",
    "retryJob": "812d06de3eaf0fb70e333b3d0142eed8bf630a2d",
    "updateJobScheduler": "4da21b4a6efa92d4c0bdfc40e803ecc1e9ab4eb5",
    "updateProgress": "e992d1814b869c8def8e67ef117b3ed2cc95771f",
}


class ScriptMissing(RuntimeError):
    """The installed bullmq does not ship a script jobcast needs (an incompatible version)."""


@cache
def script(name: str) -> Script:
    """The script ``name`` (e.g. "moveToActive"), read once from the installed bullmq."""
    found = sorted(COMMANDS.glob(f"{name}-*.lua"))
    if len(found) != 1:
        raise ScriptMissing(f"bullmq {getattr(bullmq, '__version__', '?')} at {COMMANDS} has "
                            f"{len(found)} scripts named {name}-*.lua; jobcast needs exactly one")
    path = found[0]
    num_keys = int(path.stem.rsplit("-", 1)[1])
    return Script(path.read_text(), name=name, num_keys=num_keys)
