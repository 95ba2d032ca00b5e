"""Reading the YAML files users write (board configs, rack files): every mistake is one
line naming the file, the line or the key, and the nearest valid key."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from oopswatch.errors import InputError


def load_yaml_mapping(path: Path, error: type[InputError], what: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file; `error` names the file (and the line)."""
    import yaml  # only when a config file is read: `oopswatch scan` needs none

    try:
        text = path.read_text()
    except OSError as problem:
        raise error(f"{path}: cannot read: {problem.strerror}") from problem
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        reason = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise error(f"{path}: {where}: YAML syntax error: {reason}") from problem
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of {what} at the top level")
    return data


def check_keys(path: Path, data: Any, schema: dict[str, Any], prefix: str, error: type[InputError]) -> None:
    """Every key known (else the nearest valid one is named), every value of its type."""
    if not isinstance(data, dict):
        raise error(f"{path}: {prefix.rstrip('.') or 'top level'}: expected a mapping")
    for key, value in data.items():
        if key not in schema:
            near = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys: {', '.join(schema)}"
            raise error(f"{path}: unknown key '{prefix}{key}'{hint}")
        if not isinstance(value, schema[key]) or isinstance(value, bool):
            expected = schema[key].__name__ if isinstance(schema[key], type) else "number"
            raise error(f"{path}: {prefix}{key}: expected a {expected}, got {value!r}")
