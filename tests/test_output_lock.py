"""One oopswatch per output directory, checked with real separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from oopswatch.errors import InputError, OopswatchError
from oopswatch.output_lock import LOCK_NAME, OutputInUseError, OutputLock

REPO = Path(__file__).resolve().parent.parent

HOLD = textwrap.dedent("""
    import sys, time
    from oopswatch.output_lock import OutputLock
    with OutputLock(sys.argv[1], command_line="oopswatch rack lab.yaml"):
        print("locked", flush=True)
        sys.stdin.read()  # until the test closes stdin (or kills us)
""")

TRY = textwrap.dedent("""
    import sys
    from oopswatch.errors import OopswatchError
    from oopswatch.output_lock import OutputLock
    try:
        with OutputLock(sys.argv[1]):
            print("got it")
    except OopswatchError as error:
        print(error, file=sys.stderr)
        sys.exit(error.exit_code)
""")


@contextmanager
def _holder(directory: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], cwd=REPO, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()


def _try(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRY, str(directory)], cwd=REPO, capture_output=True, text=True,
                          timeout=30)


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
    with _holder(tmp_path) as holder:
        second = _try(tmp_path)
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr == (f"{tmp_path}: already in use by oopswatch (pid {holder.pid}: oopswatch rack "
                                 "lab.yaml); use another --output directory\n")
        with pytest.raises(OutputInUseError) as refused:  # this process too
            OutputLock(tmp_path).acquire()
        assert isinstance(refused.value, OopswatchError) and refused.value.exit_code == 2
        holder.stdin.close()  # a clean exit lets go
        assert holder.wait(timeout=10) == 0
    assert _try(tmp_path).stdout == "got it\n"
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: names nobody


def test_a_lock_file_left_by_a_killed_holder_does_not_block(tmp_path):
    with _holder(tmp_path) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
        stale = json.loads((tmp_path / LOCK_NAME).read_text())
        assert stale["pid"] == holder.pid  # the dead holder's name is still in the file
        with OutputLock(tmp_path, command_line="oopswatch rack other.yaml") as lock:
            assert lock.held
            mine = json.loads((tmp_path / LOCK_NAME).read_text())
            assert (mine["pid"], mine["command"]) == (os.getpid(), "oopswatch rack other.yaml")
            refused = _try(tmp_path)
            assert refused.returncode == 2
            assert f"(pid {os.getpid()}: oopswatch rack other.yaml)" in refused.stderr
        assert not lock.held


def test_the_directory_is_made_and_one_process_cannot_hold_it_twice(tmp_path):
    directory = tmp_path / "lab" / "out"
    with OutputLock(directory):
        assert (directory / LOCK_NAME).is_file()
        with pytest.raises(OutputInUseError, match=rf"\(pid {os.getpid()}: "):
            OutputLock(directory).acquire()
    with OutputLock(directory) as again:  # free once released
        assert again.held


def test_an_output_path_that_cannot_be_a_directory_is_an_input_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=r"file/out: cannot create the output directory's lock file"):
        OutputLock(tmp_path / "file" / "out").acquire()


# -- one output, one owner: the real commands ----------------------------------------------

def _refusal(completed, holder_pid: int) -> str:
    assert completed.returncode == 2, completed.stderr
    # The last word, and the only refusal (a board whose builds are not there yet says so first).
    lines = completed.stderr.strip().splitlines()
    [line] = [line for line in lines if "already in use by oopswatch" in line]
    assert line == lines[-1] and f"pid {holder_pid}" in line, lines
    return line


@pytest.mark.slow
def test_a_watcher_is_refused_on_a_racks_output_and_a_rack_on_a_watchers(tmp_path):
    from tests.ptys import Pty, WatchProcess, oopswatch_command
    from tests.test_rack import RackProcess, rack_file

    output = tmp_path / "out"
    with Pty() as first, Pty() as second:
        rack = RackProcess(rack_file(tmp_path / "rack.yaml", [("one", "qemu-x86_64", first.path)], output), tmp_path)
        try:
            rack.wait_watching(1)
            watch = subprocess.run(oopswatch_command("--quiet", "--output", str(output), second.path),
                                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            assert "oopswatch rack" in _refusal(watch, rack.process.pid)
            assert rack.stop() == 0
        finally:
            rack.kill()
        with WatchProcess(tmp_path, second.path, "--quiet", output=output) as watcher:
            watcher.wait_watching()
            refused = subprocess.run([sys.executable, "-m", "oopswatch", "rack", str(tmp_path / "rack.yaml"),
                                      "--duration", "5"], capture_output=True, text=True, timeout=60)
            assert second.path in _refusal(refused, watcher.pid)  # the watcher's own command line names it
            assert watcher.interrupt() == 0


@pytest.mark.slow
def test_one_board_one_watcher_other_boards_share_the_output(tmp_path):
    from tests.ptys import Pty, WatchProcess, oopswatch_command

    output = tmp_path / "out"
    with (Pty() as first, Pty() as second, Pty() as third,
          WatchProcess(tmp_path, first.path, "--quiet", "--board", "qemu-x86_64", output=output) as one):
        one.wait_watching()
        same_board = subprocess.run(oopswatch_command("--quiet", "--output", str(output), "--board",
                                                      "qemu-x86_64", second.path),
                                    capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        _refusal(same_board, one.pid)
        with WatchProcess(tmp_path, third.path, "--quiet", "--board", "qemu-arm64", output=output,
                          name="other") as other:
            assert other.wait_watching().parent == output / "qemu-arm64"
            assert other.interrupt() == 0
        assert one.interrupt() == 0


MAKE_DIRECTORY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from oopswatch.sinks.console_log import make_unique_directory
    sys.stdin.read(1)  # all start together
    print(make_unique_directory(Path(sys.argv[1])))
""")


def test_boot_directories_are_made_atomically_by_simultaneous_processes(tmp_path):
    base = tmp_path / "board" / "20261124-101500-boot1"
    processes = [subprocess.Popen([sys.executable, "-c", MAKE_DIRECTORY, str(base)], cwd=REPO, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(40)]
    for process in processes:
        process.stdin.write("!")
        process.stdin.flush()
    made = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert len(set(made)) == 40
    assert sorted(path.name for path in (tmp_path / "board").iterdir()) == sorted(Path(path).name for path in made)
