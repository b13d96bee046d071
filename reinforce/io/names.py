"""The one pattern every name that becomes a path or a command argument must match, and a
bounded echo of a bad value for the one-line messages."""

from __future__ import annotations

import re
import reprlib

from reinforce.io.errors import ConfigError

# A variant name becomes a folder (runs/<name>/, tuning/selected/<name>.json), a DVC stage
# name (train@<name>) and an argument of a stage run by hand: letters, digits, '-' and '_'
# only, starting with a letter or digit (so never an option such as --out). dvc.yaml's
# commands carry no name at all (a stage reads it from DVC_STAGE, reinforce/io/cli.py), so
# a name checked only here cannot reach a shell when `dvc repro -s` skips the check stage.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SAFE_NAME_RULE = (
    "1 to 64 letters, digits, '-' or '_', starting with a letter or digit "
    "(a name becomes a folder and a command argument)"
)

# The longest echo of a value in a message: a long list or a YAML alias bomb is shown cut,
# never whole (reprlib also bounds the depth and the items it looks at).
MAX_ECHO = 80
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxtuple = 3, 12, 8, 12
_repr.maxstring, _repr.maxother, _repr.maxlong = MAX_ECHO, MAX_ECHO, MAX_ECHO


def show(value) -> str:
    """repr(value), cut at MAX_ECHO characters with '...'."""
    text = _repr.repr(value)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 3] + "..."


def is_safe_name(name) -> bool:
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def check_name(key: str, name) -> str:
    """name, when it matches SAFE_NAME; else a one-line ConfigError naming key."""
    if not is_safe_name(name):
        raise ConfigError(f"{key}: got {show(name)}; allowed: {SAFE_NAME_RULE}")
    return name
