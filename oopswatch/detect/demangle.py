"""Function names of mangled Rust and C++ symbols, for titles.

A Rust kernel module's frames print as `_RNvMs_NtCs..._11rust_binder7processNtB4_7Process10update_ref`
(v0) or `_ZN4core3ptr13drop_in_place17h0123456789abcdefE` (legacy), C++ ones as
`_Z8fakeNameiii`. Titles name the function as a developer writes it
(`<rust_binder::process::Process>::update_ref`, `core::ptr::drop_in_place`, `fakeName`),
like syzkaller, which demangles without parameters. The demangling itself is LLVM's,
through pycxxfilt; this module only drops what is not the function's name.
"""

from __future__ import annotations

import re
from functools import lru_cache

from oopswatch.regex_cache import compile_regex

_RUST_LEGACY_HASH_RE = compile_regex(r"::h[0-9a-f]{16}$")
_CLONE_SUFFIX_RE = compile_regex(r"(?:\.(?:[a-z_]+|\d+))+$")  # .cold, .isra.0, .constprop.3, .llvm.123
# Legacy Rust names escape punctuation inside the C++ mangling: `$LT$` is `<`, `..` is `::`.
_RUST_LEGACY_ESCAPE_RE = compile_regex(r"\$(LT|GT|LP|RP|C|SP|BP|RF|u[0-9a-f]{2})\$|\.\.")
_RUST_LEGACY_ESCAPES = {"LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ",", "SP": "@", "BP": "*", "RF": "&"}
_TRAILING_QUALIFIERS_RE = compile_regex(r"(?:\s*(?:const|volatile|&&|&|noexcept))+$")


@lru_cache(maxsize=4096)
def function_name(symbol: str) -> str:
    """The demangled function name of `symbol`; any other name as it is."""
    if not symbol.startswith(("_Z", "_R")):
        return symbol
    mangled = _CLONE_SUFFIX_RE.sub("", symbol)
    import pycxxfilt  # only logs with mangled names pay for loading it

    try:
        demangled = pycxxfilt.demangle(mangled)
    except ValueError:
        return symbol
    if demangled is None:
        return symbol
    if mangled.startswith("_R"):  # a Rust v0 path names the function, without parameters
        return demangled
    name = _without_signature(demangled)
    if _RUST_LEGACY_HASH_RE.search(name):
        name = _RUST_LEGACY_ESCAPE_RE.sub(_unescape, _RUST_LEGACY_HASH_RE.sub("", name))
    return name


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code is None:
        return "::"
    return _RUST_LEGACY_ESCAPES.get(code) or chr(int(code[1:], 16))


def _without_signature(demangled: str) -> str:
    """`void ns::Foo::bar<int>(int) const` -> `ns::Foo::bar<int>`: no parameters, no return type."""
    name = _TRAILING_QUALIFIERS_RE.sub("", demangled)
    if name.endswith(")"):
        depth = 0
        for index in range(len(name) - 1, -1, -1):
            char = name[index]
            if char in ")>":
                depth += 1
            elif char in "(<":
                depth -= 1
                if depth == 0 and char == "(":
                    name = name[:index]
                    break
    depth = 0
    for index in range(len(name) - 1, -1, -1):  # the return type ends at the last top-level space
        char = name[index]
        if char in ")>":
            depth += 1
        elif char in "(<":
            depth -= 1
        elif char == " " and depth == 0:
            return name[index + 1:]
    return name
