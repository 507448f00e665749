"""Where runs, datasets and caches live: one root for every relative path, whatever the working
directory and however hrmlib was installed.

    home()             $HRM_WORKBENCH_HOME; else the hrm-workbench checkout at or above the working
                       directory (a notebook runs in notebooks/, its checkout is one up); else
                       $XDG_DATA_HOME/hrm-workbench (~/.local/share/hrm-workbench)
    resolve("runs/x")  home() / "runs/x"; an absolute path (or ~/…) stays itself; "./x", "../x" and "."
                       are from the working directory, as a shell means them

Every path a command or notebook takes (data_path, run_dir, resume, init_from, checkpoint,
--output-dir, run=) goes through `resolve`, so `runs/x` means the same run from anywhere.
"""
from __future__ import annotations

import os
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1]  # where this code is (its git commit goes into env.json)


def is_checkout(d: Path) -> bool:
    return (d / "hrmlib" / "__init__.py").is_file() and (d / "pyproject.toml").is_file()


def home() -> Path:
    if os.environ.get("HRM_WORKBENCH_HOME"):
        return Path(os.environ["HRM_WORKBENCH_HOME"]).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if is_checkout(d):
            return d
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "hrm-workbench"


def resolve(p) -> Path:
    """A user's path: absolute (or ~/…) as given; "./…", "../…" or "." from the working directory;
    any other relative path under `home()`."""
    s = str(p)
    p = Path(p).expanduser()
    if p.is_absolute():
        return p
    return Path.cwd() / p if s == "." or s.startswith(("./", "../")) else home() / p


def writable(p, what: str = "") -> Path:
    """`p` (resolved) where a folder or file can be created: the nearest existing folder at or above it
    is a writable directory; else a UserError naming it (checked before any work)."""
    from .errors import UserError
    p = resolve(p)
    above = next(a for a in (p, *p.parents) if a.exists())
    if above != p and not above.is_dir() or not os.access(above, os.W_OK):
        raise UserError(f"{what or p}: cannot be written ({above} is not a writable directory)")
    return p


def runs_dir() -> Path:
    return home() / "runs"


def alive(pid: int) -> bool:
    """Process `pid` is running on this host (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet is a zombie: gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def shown(p) -> str:
    """A path as a user would type it: relative to `home()` when under it."""
    p = Path(p)
    try:
        return str(p.resolve().relative_to(home()))
    except ValueError:
        return str(p)
