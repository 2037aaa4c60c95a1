"""Configurations of a kernel: the tuning parameters (block sizes, chunking, split factors) a
function takes as keywords after the op's own arguments, each configuration checked and timed
as an implementation of its own, named `<implementation>[<keyword>=<value>,...]`."""
from __future__ import annotations

import inspect
import itertools
import json
import re

_LABEL = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<label>[^\[\]]*)\]$")


class ConfigError(ValueError):
    """A configuration that the function cannot take; the message names it."""


def tunables(fn, stub: inspect.Signature) -> dict:
    """The keywords `fn` takes beyond the op's arguments, with their defaults."""
    params = list(inspect.signature(fn).parameters.values())[len(stub.parameters):]
    return {p.name: p.default for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}


def checked(fn, stub: inspect.Signature, configs, where: str) -> tuple:
    """`configs` (a list of dicts) as a tuple of configurations, each a tuple of (keyword,
    value); ConfigError naming the first one `fn` cannot take."""
    if isinstance(configs, dict) or not isinstance(configs, (list, tuple)) or not configs:
        raise ConfigError(f"configs={configs!r} for {where}, but should be a non-empty list of "
                          f"dicts of keyword: value")
    known, out = tunables(fn, stub), []
    for config in configs:
        if not isinstance(config, dict) or not config:
            raise ConfigError(f"configuration {config!r} for {where}, but should be a non-empty "
                              f"dict of keyword: value")
        for key, value in config.items():
            _check_one(key, value, known, config, where)
        pinned = tuple(config.items())
        if pinned in out:
            raise ConfigError(f"configuration {config!r} for {where} is given twice")
        out.append(pinned)
    return tuple(out)


def _check_one(key, value, known: dict, config: dict, where: str) -> None:
    if key not in known:
        takes = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "none"
        raise ConfigError(f"configuration {config!r}: {key!r} is not a keyword {where} takes "
                          f"(its tuning keywords, with defaults: {takes})")
    default = known[key]
    same = default is None or type(value) is type(default) or (
        isinstance(default, float) and type(value) is int)
    if not same:
        raise ConfigError(f"configuration {config!r}: {key}={value!r} is a "
                          f"{type(value).__name__}, but should be {_a(type(default).__name__)} "
                          f"like its default {key}={default!r}")
    if isinstance(value, str) and re.search(r"[\[\],=\s]", value):
        raise ConfigError(f"configuration {config!r}: {key}={value!r} should have no brackets, "
                          f"commas, '=' or spaces (it is part of the implementation's name)")


def label(config: tuple) -> str:
    """`BLOCK_M=64,num_warps=4`: a configuration as it is written in a name."""
    return ",".join(f"{key}={json.dumps(value) if isinstance(value, bool) else value}"
                    for key, value in config)


def split(name: str) -> tuple[str, tuple | None]:
    """`impl[K=v,...]` -> ("impl", (("K", v), ...)); a name without brackets -> (name, None)."""
    found = _LABEL.match(name)
    if found is None:
        return name, None
    pairs = []
    for item in filter(None, found["label"].split(",")):
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"{name!r}: {item!r} should be keyword=value")
        pairs.append((key, _value(text)))
    return found["base"], tuple(pairs)


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse(text: str) -> tuple:
    """--config: a JSON list of dicts (`[{"BLOCK": 16}, {"BLOCK": 32}]`), or a grid,
    `BLOCK=16,32 SPLIT=1,2` (every combination). Configurations as lists of dicts."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            configs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--config={text!r} is not valid JSON ({exc})") from None
        return configs
    axes = []
    for item in text.split():
        key, eq, values = item.partition("=")
        if not eq or not key.isidentifier() or not values:
            raise ConfigError(f"--config={text!r}: {item!r} should be KEYWORD=v1,v2,... (or give "
                              f"a JSON list of dicts)")
        axes.append([(key, _value(v)) for v in values.split(",")])
    if not axes:
        raise ConfigError(f"--config={text!r} names no keyword")
    return [dict(combo) for combo in itertools.product(*axes)]


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
