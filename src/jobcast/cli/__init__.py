"""The ``jobcast`` command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import click

from .._version import __version__
from ..errors import JobcastError
from . import follow, logs, ops
from .commands import dev, redis, up, web, worker

LEVELS = ("debug", "info", "warning", "error")

log = logging.getLogger("jobcast")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jobcast")
def cli() -> None:
    """jobcast: heavy work off the request path, with live progress in the browser.

    Every option also reads its environment variable (JOBCAST_*, REDIS_URL); a flag wins.
    """


for command in (up, dev, web, worker, redis, *follow.COMMANDS, *ops.COMMANDS):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    level = os.environ.get("JOBCAST_LOG_LEVEL", "info").lower()
    if level not in LEVELS:
        print(f"jobcast: JOBCAST_LOG_LEVEL={level!r}: expected one of {', '.join(LEVELS)}",
              file=sys.stderr)
        return 2
    logs.configure(level)
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="jobcast",
                 standalone_mode=False)
    except JobcastError as err:
        print(f"jobcast: {err}", file=sys.stderr)
        return 2
    except click.exceptions.Abort:
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    return 0


__all__ = ["cli", "main"]
