"""The one `key=value` grammar, for any frozen dataclass: configs (`hrmlib.config`), bench options,
notebook parameters. Nested keys take dots (`arch.H_cycles=3`); a value is parsed as its field's
type (bool: true/false/1/0/yes/no/on/off; None where the field allows it); an unknown key or a bad
value is a ConfigError naming the key, with "did you mean" and the valid keys.

    apply(cfg, ["lr=1e-4", "arch.H_cycles=3"]) → a validated copy of cfg
"""
from __future__ import annotations

import dataclasses as dc
import difflib
import inspect
import io
import tokenize
import types
import typing
from typing import Literal

from .errors import UserError


class ConfigError(UserError, ValueError):
    """A bad preset, key or value: the message names it and lists what is allowed."""


def apply(cfg, overrides) -> typing.Any:
    """Return a copy of dataclass `cfg` with every `key=value` string applied and re-validated."""
    changes: dict = {}
    for item in overrides:
        key, raw = split(item)
        _set(changes, type(cfg), key.strip(), raw.strip())
    return _rebuild(cfg, changes)


def split(item: str, hint: str = "e.g. lr=1e-4") -> tuple[str, str]:
    """`key=value` as (key, value); anything else is a ConfigError ending with `hint`."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value ({hint})")
    return tuple(item.split("=", 1))


def _set(changes: dict, cls, key: str, raw: str, prefix: str = ""):
    head, _, rest = key.partition(".")
    full = prefix + head
    fields = {f.name for f in dc.fields(cls)}
    if head not in fields:
        near = difflib.get_close_matches(head, fields, n=3)
        hint = f" (did you mean {', '.join(prefix + n for n in near)}?)" if near else ""
        raise ConfigError(f"unknown key {prefix + key!r}{hint}; valid keys: {', '.join(_keys(cls, prefix))}")
    ftype = typing.get_type_hints(cls)[head]
    if dc.is_dataclass(ftype):
        if not rest:
            raise ConfigError(f"{full!r} is a section; set one of: {', '.join(_keys(ftype, full + '.'))}")
        _set(changes.setdefault(head, {}), ftype, rest, raw, full + ".")
    elif rest:
        raise ConfigError(f"unknown key {prefix + key!r}: {full!r} is not a section")
    else:
        changes[head] = parse_value(full, raw, ftype)


def _rebuild(cfg, changes: dict):
    kw = {k: _rebuild(getattr(cfg, k), v) if isinstance(v, dict) else v for k, v in changes.items()}
    return dc.replace(cfg, **kw)


def _keys(cls, prefix: str = "") -> list[str]:
    out = []
    for f in dc.fields(cls):
        t = typing.get_type_hints(cls)[f.name]
        out += _keys(t, prefix + f.name + ".") if dc.is_dataclass(t) else [prefix + f.name]
    return out


_BOOLS = dict.fromkeys(("true", "1", "yes", "on"), True) | dict.fromkeys(("false", "0", "no", "off"), False)


def parse_value(key: str, raw: str, t):
    """Parse `raw` as type `t` (bool, int, float, str, Literal, Optional)."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", "") and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return parse_value(key, raw, options[0])
        for a in options:  # the first of the types that takes it (an int, then "auto", say)
            try:
                return parse_value(key, raw, a)
            except ConfigError:
                pass
        names = [a.__name__ if isinstance(a, type) else " or ".join(map(str, typing.get_args(a))) for a in options]
        none = " or none" if type(None) in args else ""
        raise ConfigError(f"{key}: expected {' or '.join(names)}{none}, got {raw!r}")
    if origin is Literal:
        if raw not in args:
            raise ConfigError(f"{key}: {raw!r} is not one of {', '.join(map(str, args))}")
        return raw
    if t is bool:
        if raw.lower() not in _BOOLS:
            raise ConfigError(f"{key}: expected a bool (true/false), got {raw!r}")
        return _BOOLS[raw.lower()]
    if t in (int, float):
        try:
            v = float(raw)
            if t is float or v.is_integer():
                return t(v)
        except ValueError:
            pass
        raise ConfigError(f"{key}: expected {t.__name__}, got {raw!r}")
    if t is str:
        return raw
    raise ConfigError(f"{key}: cannot parse values of type {t}")


def flat(d: dict, prefix: str = "") -> dict:
    """A nested config dict as {"arch.hidden_size": 512, …}."""
    out = {}
    for k, v in d.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v}
    return out


def diff(a, b) -> dict[str, tuple]:
    """{dotted key: (a's value, b's value)} where two configs differ."""
    fa, fb = flat(dc.asdict(a)), flat(dc.asdict(b))
    return {k: (fa[k], fb[k]) for k in fa if fa[k] != fb[k]}


def field_docs(cls, prefix: str = "") -> dict[str, str]:
    """{dotted key: its one-line doc}: the comment after each field, else the comment lines just
    above it, read with Python's tokenizer (so a `#` inside a string default is not a comment)."""
    comments, starts, prev = {}, {}, None
    for t in tokenize.generate_tokens(io.StringIO(inspect.getsource(cls)).readline):
        if t.type == tokenize.COMMENT:
            comments[t.start[0]] = t.string.lstrip("#").strip()
        elif t.type == tokenize.NAME and t.start[1] == 4 and (prev is None or prev.type in _LINE_START):
            starts[t.start[0]] = t.string  # the first name of a statement in the class body
        prev = t
    docs, names = {}, {f.name for f in dc.fields(cls)}
    for line, name in starts.items():
        if name not in names:
            continue
        above, k = [], line - 1
        while k in comments and k not in starts:
            above, k = [comments[k]] + above, k - 1
        t = typing.get_type_hints(cls)[name]
        docs |= field_docs(t, f"{prefix}{name}.") if dc.is_dataclass(t) else {
            prefix + name: comments.get(line) or " ".join(above)}
    return docs


_LINE_START = (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)


def describe(cfg) -> str:
    """Every key with its value in `cfg` and its doc: what `python -m hrmlib.train PRESET --help` prints."""
    docs, values = field_docs(type(cfg)), flat(dc.asdict(cfg))
    w = max(len(f"{k}={v}") for k, v in values.items())
    return "\n".join(f"  {f'{k}={v}':<{w}}  {docs.get(k, '')}" for k, v in values.items())


def from_dict(cls, d: dict):
    """Rebuild a (nested) dataclass from `to_dict()` output, e.g. a run's config.json."""
    hints = typing.get_type_hints(cls)
    if unknown := [k for k in d if k not in hints]:
        raise ConfigError(f"unknown key {unknown[0]!r} in saved config; valid keys: {', '.join(_keys(cls))}")
    return cls(**{k: from_dict(hints[k], v) if dc.is_dataclass(hints[k]) else v for k, v in d.items()})
