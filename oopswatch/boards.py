"""Board configs: YAML files ▶ validated `Board`s, and the choice of the build that is
actually running on a board.

A board file names the board, its architecture, its console's serial settings and the
kernel builds that may be flashed on it. A build is a directory with `System.map` and,
optionally, `vmlinux`, a modules directory and `.config`; a board lists builds one by
one or by a glob, so a lab's CI can drop a new build in place without editing YAML.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oopswatch.arches import ARCHES, kernel_arch
from oopswatch.detect.events import banner_release
from oopswatch.errors import InputError
from oopswatch.names import name_problem
from oopswatch.yaml_config import check_keys, load_yaml_mapping

BOARDS_ENV = "OOPSWATCH_BOARDS"


class BoardError(InputError):
    """A board config that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SerialSettings:
    port: str | None = None
    baud: int = 115200
    data_bits: int = 8
    parity: str = "none"  # none, even, odd, mark, space
    stop_bits: float = 1
    flow_control: str = "none"  # none, rtscts, xonxoff


@dataclass
class Build:
    """One kernel build that may run on a board."""

    name: str
    path: Path
    banner: str | None = None  # `Linux version ...` as the kernel prints it at boot
    system_map: Path | None = None
    vmlinux: Path | None = None
    modules: Path | None = None
    config: Path | None = None

    @property
    def release(self) -> str | None:
        return banner_release(self.banner)


@dataclass
class QemuSettings:
    """How `oopswatch qemu` boots this board's kernel (QEMU boards only)."""

    binary: str
    machine: list[str]
    kernel: str  # image file name inside the build directory
    initrd: str | None = None
    append: str = ""
    console: str = "ttyS0"
    pvpanic: str | None = None  # QEMU device name, e.g. pvpanic or pvpanic-pci


DEFAULT_PROMPT = r"[#$%] $"  # the end of a shell prompt: `/ # `, `root@host:~# `, `$ `


@dataclass(frozen=True)
class ShellSettings:
    """How a shell session finds the board's shell: the prompt's end (a regex), and the
    account to log in with when a login prompt comes first."""

    prompt: str = DEFAULT_PROMPT
    login_prompt: str = r"login: *$"
    password_prompt: str = r"[Pp]assword: *$"
    user: str | None = None
    password: str | None = None
    password_env: str | None = None  # the environment variable holding the password


@dataclass
class Board:
    name: str
    arch: str
    file: Path
    console: SerialSettings
    build_specs: list[dict[str, Any]] = field(default_factory=list)
    default_build: str | None = None
    description: str = ""
    qemu: QemuSettings | None = None
    shell: ShellSettings = field(default_factory=ShellSettings)

    def builds(self) -> list[Build]:
        """The builds present now (globs are expanded on every call)."""
        return list(_expand_builds(self))

    def default_first(self, builds: list[Build]) -> list[Build]:
        """`builds` (one listing: globs expanded once) with the default build first."""
        return sorted(builds, key=lambda build: build.name != self.default_build)


def console_settings(board: Board | None, port: str, baud: int | None = None) -> SerialSettings:
    """The board's serial settings (or pyserial's usual ones) for `port`; `baud`, when
    given, overrides the board's."""
    settings = board.console if board else SerialSettings()
    return dataclasses.replace(settings, port=port, baud=baud or settings.baud)


# -- schema ---------------------------------------------------------------------------

_TOP_KEYS = {"name": str, "arch": str, "description": str, "console": dict, "builds": list,
             "default_build": str, "qemu": dict, "shell": dict}
_CONSOLE_KEYS = {"port": str, "baud": int, "data_bits": int, "parity": str, "stop_bits": (int, float),
                 "flow_control": str}
_BUILD_KEYS = {"path": str, "glob": str, "name": str, "banner": str, "system_map": str, "vmlinux": str,
               "modules": str, "config": str}
_QEMU_KEYS = {"binary": str, "machine": list, "kernel": str, "initrd": str, "append": str, "console": str,
              "pvpanic": str}
_SHELL_KEYS = {"prompt": str, "login_prompt": str, "password_prompt": str, "user": str, "password": str,
               "password_env": str}
_PARITIES = ("none", "even", "odd", "mark", "space")
_FLOWS = ("none", "rtscts", "xonxoff")
_DATA_BITS = (5, 6, 7, 8)
_STOP_BITS = (1, 1.5, 2)
MAX_BAUD = 20_000_000  # beyond any UART a lab has


def load_board_file(path: str | os.PathLike[str]) -> Board:
    path = Path(path)
    data = load_yaml_mapping(path, BoardError, "board settings")
    _check_keys(path, data, _TOP_KEYS, "")
    for required in ("name", "arch"):
        if required not in data:
            raise BoardError(f"{path}: missing key '{required}'")
    problem = name_problem(data["name"])
    if problem is not None:
        raise BoardError(f"{path}: name: {data['name']!r} cannot be a board name: {problem}")
    data["arch"] = kernel_arch(data["arch"])
    if data["arch"] not in ARCHES:
        raise BoardError(f"{path}: arch: '{data['arch']}' is not one of {', '.join(ARCHES)}")
    console = data.get("console") or {}
    _check_keys(path, console, _CONSOLE_KEYS, "console.")
    check_serial_settings(console, f"{path}: console.")
    specs: list[dict[str, Any]] = []
    for index, spec in enumerate(data.get("builds") or []):
        if isinstance(spec, str):
            spec = {"glob": spec} if glob.has_magic(spec) else {"path": spec}
        if not isinstance(spec, dict):
            raise BoardError(f"{path}: builds[{index}]: expected a path, a glob or a mapping")
        _check_keys(path, spec, _BUILD_KEYS, f"builds[{index}].")
        if ("path" in spec) == ("glob" in spec):
            raise BoardError(f"{path}: builds[{index}]: give exactly one of 'path' or 'glob'")
        specs.append(spec)
    qemu = None
    if data.get("qemu") is not None:
        _check_keys(path, data["qemu"], _QEMU_KEYS, "qemu.")
        for required in ("binary", "machine", "kernel"):
            if required not in data["qemu"]:
                raise BoardError(f"{path}: missing key 'qemu.{required}'")
        qemu = QemuSettings(**data["qemu"])
    shell = data.get("shell") or {}
    _check_keys(path, shell, _SHELL_KEYS, "shell.")
    for key in ("prompt", "login_prompt", "password_prompt"):
        try:
            re.compile(shell.get(key, ""))
        except re.error as error:
            raise BoardError(f"{path}: shell.{key}: not a regular expression: {error}") from None
    return Board(
        name=data["name"], arch=data["arch"], file=path, description=data.get("description", ""),
        console=SerialSettings(**console), build_specs=specs, default_build=data.get("default_build"),
        qemu=qemu, shell=ShellSettings(**shell),
    )


def check_serial_settings(console: dict[str, Any], where: str) -> None:
    """Serial settings a UART can take: a BoardError naming the key (`where` prefixes it)."""
    baud = console.get("baud", 115200)
    if not 0 < baud <= MAX_BAUD:
        raise BoardError(f"{where}baud: {baud}: give the console's baud rate, such as 115200")
    if console.get("data_bits", 8) not in _DATA_BITS:
        raise BoardError(f"{where}data_bits: {console['data_bits']}: give 5, 6, 7 or 8 (usually 8)")
    if console.get("stop_bits", 1) not in _STOP_BITS:
        raise BoardError(f"{where}stop_bits: {console['stop_bits']}: give 1, 1.5 or 2 (usually 1)")
    if console.get("parity", "none") not in _PARITIES:
        raise BoardError(f"{where}parity: '{console['parity']}' is not one of {', '.join(_PARITIES)}")
    if console.get("flow_control", "none") not in _FLOWS:
        raise BoardError(f"{where}flow_control: '{console['flow_control']}' is not one of {', '.join(_FLOWS)}")


def _check_keys(path: Path, data: Any, schema: dict[str, Any], prefix: str) -> None:
    check_keys(path, data, schema, prefix, BoardError)


def _expand(path: str, relative_to: Path) -> str:
    expanded = os.path.expanduser(os.path.expandvars(path))
    return expanded if os.path.isabs(expanded) else str(relative_to / expanded)


def _expand_builds(board: Board) -> Iterable[Build]:
    base = board.file.parent
    for index, spec in enumerate(board.build_specs):
        where = f"{board.file}: builds[{index}]"
        if "glob" in spec:
            pattern = _expand(spec["glob"], base)
            matches = sorted(match for match in glob.glob(pattern) if os.path.isdir(match))
            if not matches:
                raise BoardError(f"{where}: the glob '{spec['glob']}' matches no build directory")
            for match in matches:
                yield _build(Path(match), {**spec, "name": Path(match).name}, where)
        else:
            directory = Path(_expand(spec["path"], base))
            if not directory.is_dir():
                raise BoardError(f"{where}: build directory '{spec['path']}' not found")
            yield _build(directory, spec, where)


def _build(directory: Path, spec: dict[str, Any], where: str) -> Build:
    def optional(key: str, default: str) -> Path | None:
        candidate = Path(_expand(spec[key], directory)) if key in spec else directory / default
        if key in spec and not candidate.exists():
            raise BoardError(f"{where}: {key} '{spec[key]}' not found")
        return candidate if candidate.exists() else None

    system_map = optional("system_map", "System.map")
    vmlinux = optional("vmlinux", "vmlinux")
    if system_map is None and vmlinux is None:
        raise BoardError(f"{where}: {directory} has neither System.map nor vmlinux")
    banner = spec.get("banner")
    if banner is None:
        from oopswatch.symbols.kernel import read_banner_file

        banner = read_banner_file(directory)
    return Build(name=spec.get("name") or directory.name, path=directory, banner=banner, system_map=system_map,
                 vmlinux=vmlinux, modules=optional("modules", "modules"), config=optional("config", ".config"))


def build_banner(build: Build) -> str | None:
    """The build's banner: from the config or banner file, else from vmlinux."""
    if build.banner is None and build.vmlinux is not None:
        from oopswatch.symbols.elf import read_elf_info

        try:
            build.banner = read_elf_info(build.vmlinux).banner
        except InputError:
            return None
    return build.banner


# -- finding board files --------------------------------------------------------------

def builtin_boards_dir() -> Path:
    """The board configs shipped inside the package (package data; the repository's
    top-level `boards/` points here)."""
    return Path(__file__).resolve().parent / "board_configs"


def board_dirs(extra: Iterable[str] = ()) -> list[Path]:
    """Where board files are looked up: --boards DIRs, $OOPSWATCH_BOARDS, then the shipped ones."""
    dirs = [Path(d) for d in extra]
    dirs += [Path(d) for d in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if d]
    dirs.append(builtin_boards_dir())
    return dirs


def _declared_name(file: Path) -> str | None:
    """The `name:` a board file gives itself, or None when it cannot be read."""
    try:
        data = load_yaml_mapping(file, BoardError, "board settings")
    except BoardError:
        return None
    name = data.get("name")
    return name if isinstance(name, str) else None


def board_files(extra: Iterable[str] = ()) -> list[Path]:
    files: list[Path] = []
    for directory in board_dirs(extra):
        if directory.is_dir():
            files += sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    return files


def find_board(name: str, extra: Iterable[str] = ()) -> Board:
    """The board `name`: the file `name.yaml` first, else the file whose `name:` it is
    (so both the names `boards` lists and the file names work)."""
    files = board_files(extra)
    for file in files:
        if file.stem == name:
            return load_board_file(file)
    for file in files:
        if _declared_name(file) == name:
            return load_board_file(file)
    import difflib  # only for the hint of an error

    known = sorted({file.stem for file in files} | {declared for file in files if (declared := _declared_name(file))})
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{near[0]}'?" if near else f"; known boards: {', '.join(known) or 'none'}"
    raise BoardError(f"board '{name}' not found in {', '.join(map(str, board_dirs(extra)))}{hint}")
