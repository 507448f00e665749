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
import io
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


class _Writes(io.RawIOBase):
    """A file that keeps the OSError of a failed write: torch reports one only as a RuntimeError
    ("unexpected pos …") and numpy's fast path as an OSError without errno, hiding a full disk."""

    def __init__(self, f):
        self.f, self.error = f, None

    def writable(self):
        return True

    def write(self, b) -> int:
        view, n = memoryview(b), 0
        try:
            while n < len(view):
                n += self.f.write(view[n:])
        except OSError as e:
            self.error = e
            raise
        return n


def write_file(path, save):
    """`save(f)` writes `path` (e.g. `lambda f: torch.save(obj, f)`); a failed write raises the
    OSError that caused it, naming the file, whatever the library made of it."""
    with open(path, "wb", buffering=0) as f:
        w = _Writes(f)
        try:
            save(w)
        except (RuntimeError, OSError):
            if w.error is None:
                raise
            w.error.filename = w.error.filename or str(path)
            raise w.error from None


def cli(fn, argv=None, usage=None) -> int:
    """Run a command's body `fn(argv) -> exit status`; a UserError, an OSError or an interrupt
    is one `error:` line on stderr and its exit status. With -h or --help, print `usage` (a text,
    or a function of argv that makes it) and exit 0."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if usage is not None and {"-h", "--help"} & set(argv):
        print(usage(argv) if callable(usage) else usage)
        return 0
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
