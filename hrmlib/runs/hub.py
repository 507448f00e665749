"""Released checkpoints by name: `hf:<org>/<name>[/<subfolder>][@<revision>][@step_N]`.

    hf:sapientinc/HRM-checkpoint-sudoku-extreme                       newest step_N at the root, branch main
    hf:arcprize/trm_arc_prize_verification/arc_v1_public              newest step_N in that folder
    hf:arcprize/trm_arc_prize_verification/arc_v1_public@step_518071  that step (so is …/arc_v1_public/step_518071)
    hf:org/name@v2                                                    tag or branch v2, newest step
    hf:org/name@<40-hex commit>@step_100                              a commit, and a step in it

    from hrmlib.runs.hub import resolve
    r = resolve("hf:sapientinc/HRM-checkpoint-sudoku-extreme")   # r.file, r.config, r.commit, r.step, r.size

Grammar: after `hf:` the repository (org/name), then optionally a folder inside it; after `@` a
revision (branch, tag or commit hash) and/or a step, revision first. A part after `@` of the form
`step_<digits>` is always the step, anything else the revision (a branch literally named step_N is
reachable only by its commit hash). A last path part `step_<digits>` is the step file too.

The originals save a checkpoint as `step_<N>` (no extension) beside `all_config.yaml`; without a
step the highest N in the folder is taken, and the line printed says which. Only that file and its
all_config.yaml are downloaded, by huggingface_hub into its cache (HF_HUB_CACHE, by default
~/.cache/huggingface/hub), with its progress bar; an interrupted download resumes. With
HF_HUB_OFFLINE=1, or when the Hub cannot be reached, the cache is read instead: what was downloaded
once works offline. Every problem is one HubError line saying what to do.
"""
from __future__ import annotations

import dataclasses as dc
import importlib
import re
from pathlib import Path

from ..config import ConfigError

STEP = re.compile(r"step_(\d+)")
CONFIG = "all_config.yaml"
GRAMMAR = "hf:<org>/<name>[/<subfolder>][@<revision>][@step_N]"


class HubError(ConfigError):
    """An hf: name that cannot be resolved: not in the cache while offline, no such repo, revision,
    step or all_config.yaml. The message says which and what exists."""


@dc.dataclass(frozen=True)
class Spec:
    repo: str  # org/name
    subfolder: str = ""  # folder inside the repo, "" for its root
    revision: str | None = None  # branch, tag or commit; None: the default branch
    step: int | None = None  # None: the newest step_N in the folder

    def __str__(self) -> str:
        at = (f"@{self.revision}" if self.revision else "") + (f"@step_{self.step}" if self.step is not None else "")
        return "hf:" + "/".join(p for p in (self.repo, self.subfolder) if p) + at


@dc.dataclass(frozen=True)
class Resolved:
    spec: str  # as given
    repo: str
    subfolder: str
    revision: str | None  # as asked (None: the default branch, main)
    commit: str  # the commit it resolved to
    step: int
    file: Path  # the step_N file (in the cache: models--org--name/snapshots/<commit>/…)
    config: Path  # the all_config.yaml beside it
    size: int  # bytes of the step file
    steps: tuple  # every step_N in the folder at that commit (offline: those in the cache)
    chosen: bool  # True when no step was given and the newest was taken

    @property
    def pinned(self) -> str:
        """The exact name: commit and step fixed, so it means the same file tomorrow."""
        return str(Spec(self.repo, self.subfolder, self.commit, self.step))

    def __str__(self) -> str:
        how = f", the newest of {len(self.steps)}" if self.chosen and len(self.steps) > 1 else ""
        return f"{self.spec}: step_{self.step}{how} ({size(self.size)}) at commit {self.commit[:8]} -> {self.file}"


def size(n: int) -> str:
    """Bytes, as the Hub shows them (decimal units)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def is_hf(name) -> bool:
    return isinstance(name, str) and name.startswith("hf:")


def parse(spec: str) -> Spec:
    bad = HubError(f"{spec!r} is not a Hugging Face checkpoint name; expected {GRAMMAR}, e.g. "
                   "hf:sapientinc/HRM-checkpoint-sudoku-extreme or "
                   "hf:arcprize/trm_arc_prize_verification/arc_v1_public@step_518071")
    if not is_hf(spec):
        raise bad
    path, *at = spec[3:].split("@")
    revision = step = None
    if len(at) > 2:
        raise bad
    for i, part in enumerate(at):
        if (m := STEP.fullmatch(part)) and i == len(at) - 1:
            step = int(m[1])
        elif i == 0 and part:
            revision = part
        else:
            raise bad
    parts = path.split("/")
    if len(parts) < 2 or not all(parts):
        raise bad
    if len(parts) > 2 and (m := STEP.fullmatch(parts[-1])):
        if step is not None:
            once = Spec("/".join(parts[:2]), "/".join(parts[2:-1]), revision, step)
            raise HubError(f"{spec!r} names the step twice; give it once, e.g. {once}")
        step, parts = int(m[1]), parts[:-1]
    return Spec("/".join(parts[:2]), "/".join(parts[2:]), revision, step)


def resolve(spec, offline: bool | None = None, cache_dir=None, quiet: bool = False) -> Resolved:
    """The local step file and all_config.yaml of an hf: name, downloaded into the huggingface_hub
    cache unless there already. `offline` defaults to HF_HUB_OFFLINE, `cache_dir` to HF_HUB_CACHE."""
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    s = parse(spec) if isinstance(spec, str) else spec
    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    offline = constants.HF_HUB_OFFLINE if offline is None else offline
    listing = None if offline else _remote(s)
    where = "at that commit"
    if listing is None:
        why = "HF_HUB_OFFLINE=1" if offline else "the Hub cannot be reached"
        listing, where = _cached(s, cache, why), "in the cache"
    commit, files = listing
    folder = f"{s.subfolder}/" if s.subfolder else ""
    steps = sorted(int(m[1]) for f in files if f.startswith(folder) and (m := STEP.fullmatch(f[len(folder):])))
    name = str(dc.replace(s, step=None))
    if not steps:
        raise HubError(_no_steps(s, files, where))
    step = steps[-1] if s.step is None else s.step
    if step not in steps:
        raise HubError(f"{name}: no step_{step} {where} (commit {commit[:8]}); there: "
                       f"{', '.join(f'step_{n}' for n in steps)}" + ("; the Hub may hold more: run once with network "
                                                                     "access" if where == "in the cache" else ""))
    if folder + CONFIG not in files:
        raise HubError(f"{name}: no {CONFIG} beside step_{step} {where}, and the model's config is read from it; "
                       f"files there: {_listing(folder, files)}")
    kw = dict(repo_id=s.repo, revision=commit, cache_dir=cache, local_files_only=where == "in the cache")
    known = try_to_load_from_cache(filename=f"{folder}step_{step}", repo_id=s.repo, revision=commit, cache_dir=cache)
    if where != "in the cache" and not quiet and not isinstance(known, str):
        print(f"downloading {name}@step_{step} ({size(files[f'{folder}step_{step}'] or 0)}) into {cache}", flush=True)
    config = Path(hf_hub_download(filename=folder + CONFIG, **kw))
    file = Path(hf_hub_download(filename=f"{folder}step_{step}", **kw))
    r = Resolved(spec if isinstance(spec, str) else str(s), s.repo, s.subfolder, s.revision, commit, step, file, config,
                 file.stat().st_size, tuple(steps), s.step is None)
    if not quiet:
        print(r, flush=True)
    return r


def _network_errors() -> tuple:
    """What 'the Hub cannot be reached' raises, whichever HTTP client this huggingface_hub uses:
    OSError covers ConnectionError, TimeoutError, requests' errors and HfHubHTTPError (Hub down)."""
    errs = [OSError]
    for mod in ("httpx2", "httpx"):
        try:
            errs.append(importlib.import_module(mod).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errs)


def _remote(s: Spec):
    """(commit, {path: size}) from the Hub, or None when it cannot be reached (then the cache is read,
    as huggingface_hub itself does)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    try:
        info = HfApi().model_info(s.repo, revision=s.revision, files_metadata=True)
    except GatedRepoError:
        raise HubError(f"hf:{s.repo} is gated: accept its terms on huggingface.co/{s.repo} and log in "
                       "(hf auth login, or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise HubError(f"hf:{s.repo}: no such model repository on the Hugging Face Hub (or it is private: log in "
                       "with hf auth login, or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise HubError(f"hf:{s.repo}: no revision {s.revision!r} (a branch, tag or commit of the repository)") from None
    except _network_errors() as e:
        print(f"warning: the Hugging Face Hub cannot be reached ({type(e).__name__}); reading the cache", flush=True)
        return None
    return info.sha, {f.rfilename: f.size for f in info.siblings or ()}


def _cached(s: Spec, cache: Path, why: str):
    """(commit, {path: size}) of the cached revision asked for, through huggingface_hub's scan_cache_dir."""
    from huggingface_hub import scan_cache_dir
    repo = next((r for r in (scan_cache_dir(cache).repos if cache.is_dir() else ())
                 if r.repo_id == s.repo and r.repo_type == "model"), None)
    if repo is None:
        raise HubError(f"hf:{s.repo} is not in the Hugging Face cache {cache} and {why}: download it once with network "
                       "access (HF_HUB_OFFLINE unset), or set HF_HUB_CACHE (or HF_HOME) to a cache that holds it")
    rev = s.revision or "main"
    hit = next((r for r in repo.revisions if rev in r.refs or r.commit_hash == rev), None)
    if hit is None:
        known = ", ".join(sorted(f"{'/'.join(sorted(r.refs)) or 'commit'} {r.commit_hash[:8]}" for r in repo.revisions))
        raise HubError(f"hf:{s.repo}: revision {rev!r} is not in the cache ({why}); cached: {known} (a commit is "
                       "named by its full 40-character hash)")
    return hit.commit_hash, {f.file_path.relative_to(hit.snapshot_path).as_posix(): f.size_on_disk for f in hit.files}


def _listing(folder: str, files: dict, limit: int = 8) -> str:
    here = sorted(f[len(folder):] for f in files if f.startswith(folder) and "/" not in f[len(folder):])
    return ", ".join(here[:limit]) + (f" and {len(here) - limit} more" if len(here) > limit else "") or "none"


def _no_steps(s: Spec, files: dict, where: str) -> str:
    """No step_N in the folder: point to the folders that hold some, or list what is there."""
    name, folder = str(dc.replace(s, step=None)), f"{s.subfolder}/" if s.subfolder else ""
    holders = sorted({f.rpartition("/")[0] for f in files if STEP.fullmatch(f.rpartition("/")[2])} - {s.subfolder})
    if holders:
        return (f"{name}: no step_N checkpoint in {'folder ' + s.subfolder if s.subfolder else 'the repository root'} "
                f"{where}; folders that hold some: {', '.join(holders)}, e.g. {Spec(s.repo, holders[0], s.revision)}")
    return (f"{name}: no step_N checkpoint file {where} (the originals save step_<N> beside all_config.yaml); "
            f"files there: {_listing(folder, files)}")
