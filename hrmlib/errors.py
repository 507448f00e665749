"""The one kind of error a user can act on, and how every command ends on it.

Every error that bad input or a state on disk can cause (a config value, a dataset, a run directory,
a checkpoint) subclasses `UserError`; its message names what was wrong and what to do. A command's
`main` runs through `cli`, which turns a UserError, a full disk or another I/O failure, and Ctrl-C
into one line on stderr and a non-zero exit status, never a traceback:

    def main(argv=None) -> int:
        return cli(_main, argv)
"""
from __future__ import annotations

import errno
import sys


class UserError(Exception):
    """Bad input, or a state on disk that the user must change; the message says what and how.
    `code` is the exit status of the command that stops on it."""
    code = 2


class Interrupted(UserError):
    """Ctrl-C (SIGINT) or SIGTERM: where the work stopped and how to go on."""
    code = 130


def io_error(e: OSError, safe: str = "") -> UserError:
    """An OSError as one line: the file, the reason, and (`safe`) what is still intact."""
    what = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else (e.strerror or str(e))
    where = f"{e.filename}: " if e.filename else ""
    return UserError(f"{where}{what}" + (f"; {safe}" if safe else ""))


def cli(fn, argv=None) -> int:
    """Run a command's body `fn(argv) -> exit status`; a UserError, an OSError or an interrupt
    is one `error:` line on stderr and its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return fn(argv)
    except UserError as e:
        print(f"error: {e}" if not isinstance(e, Interrupted) else str(e), file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return Interrupted.code
    except OSError as e:
        print(f"error: {io_error(e)}", file=sys.stderr, flush=True)
        return 2
