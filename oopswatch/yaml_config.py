"""Reading the YAML files users write (board configs, rack files): every mistake is one
line naming the file, the line or the key, and the nearest valid key."""

from __future__ import annotations

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
        data = yaml.load(text, Loader=_strict_loader())  # a SafeLoader that refuses repeated keys
    except DuplicateKeyError as problem:
        raise error(f"{path}: line {problem.line}: key '{problem.key}' given twice (the first is at line "
                    f"{problem.first_line}); keep one") from None
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        reason = getattr(problem, "problem", None) or str(problem).splitlines()[0]
        raise error(f"{path}: {where}: YAML syntax error: {reason}") from problem
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of {what} at the top level")
    return data


class DuplicateKeyError(ValueError):
    """A mapping names a key twice: YAML would keep the last one silently."""

    def __init__(self, key: object, line: int, first_line: int):
        super().__init__(f"key {key!r} given twice")
        self.key, self.line, self.first_line = key, line, first_line


def _strict_loader():
    """PyYAML's SafeLoader, except that a key given twice in one mapping is an error
    (a duplicated `baud:` must not quietly win over the first)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges; what it merges may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if first != key_node.start_mark.line + 1:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1, first)
            return super().construct_mapping(node, deep)

    return StrictLoader


def check_keys(path: Path, data: Any, schema: dict[str, Any], prefix: str, error: type[InputError]) -> None:
    """Every key known (else the nearest valid one is named), every value of its type."""
    if not isinstance(data, dict):
        raise error(f"{path}: {prefix.rstrip('.') or 'top level'}: expected a mapping")
    for key, value in data.items():
        if key not in schema:
            import difflib  # only for the hint of an error

            near = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys: {', '.join(schema)}"
            raise error(f"{path}: unknown key '{prefix}{key}'{hint}")
        if not isinstance(value, schema[key]) or isinstance(value, bool):
            expected = schema[key].__name__ if isinstance(schema[key], type) else "number"
            raise error(f"{path}: {prefix}{key}: expected a {expected}, got {value!r}")
