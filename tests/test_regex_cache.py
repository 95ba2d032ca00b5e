"""Compiled patterns kept between runs (oopswatch/regex_cache.py), in real processes:
the first scan writes the programs of every pattern it compiled, the next one reads
them, and each program kept is exactly what `re` compiles (Pattern equality compares
the compiled code). A damaged or foreign cache file, or one that cannot be written, only
costs time."""

from __future__ import annotations

import _sre
import json
import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oopswatch.regex_cache import compile_regex
from tests.syzkaller_corpus import CORPUS_DIR

LOG = CORPUS_DIR / "10"  # a real report: detector, frames and title all at work


def scan(cache: Path, log: Path = LOG) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OOPSWATCH_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "oopswatch", "scan", "--json", str(log)],
                          capture_output=True, text=True, env=env, timeout=60)


def programs_file(cache: Path) -> Path:
    return cache / "regex" / "programs-1.marshal"


def test_the_programs_kept_are_those_re_compiles(tmp_path):
    first = scan(tmp_path)
    stored = marshal.loads(programs_file(tmp_path).read_bytes())
    engine, programs = stored
    assert engine.startswith(sys.implementation.cache_tag) and str(_sre.MAGIC) in engine
    assert len(programs) > 100  # the detector's tables, frames, console prefixes...
    for (pattern, flags), program in programs.items():
        assert _sre.compile(pattern, *program) == re.compile(pattern, flags), pattern
    written = programs_file(tmp_path).stat().st_mtime_ns
    second = scan(tmp_path)
    assert second.stdout == first.stdout and second.returncode == first.returncode == 1
    assert json.loads(second.stdout.splitlines()[0])["title"]
    assert programs_file(tmp_path).stat().st_mtime_ns == written  # nothing new: not rewritten


@pytest.mark.parametrize("content", [b"", b"\x00garbage", marshal.dumps(("another python", {("x", 0): ()})),
                                     marshal.dumps((1, 2, 3))])
def test_a_damaged_or_foreign_cache_file_is_replaced(tmp_path, content):
    expected = scan(tmp_path / "clean")
    programs_file(tmp_path).parent.mkdir(parents=True)
    programs_file(tmp_path).write_bytes(content)
    result = scan(tmp_path)
    assert (result.stdout, result.returncode, result.stderr) == (expected.stdout, expected.returncode,
                                                                 expected.stderr)
    assert marshal.loads(programs_file(tmp_path).read_bytes())[0] != "another python"


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(tmp_path):
    expected = scan(tmp_path / "clean")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    result = scan(blocked)
    assert (result.stdout, result.returncode, result.stderr) == (expected.stdout, expected.returncode,
                                                                 expected.stderr)


def test_compile_regex_is_re_compile():
    for pattern, flags in ((r"(?P<name>\w+)\+0x([0-9a-f]+)", 0), (rb"^([0-9a-f]+) ", re.MULTILINE),
                           (r"lkdtm_[A-Z]+", re.IGNORECASE)):
        assert compile_regex(pattern, flags) == re.compile(pattern, flags)
        assert compile_regex(pattern, flags).groupindex == re.compile(pattern, flags).groupindex
    with pytest.raises(re.error, match="missing \\), unterminated subpattern at position 0"):
        compile_regex("(")
