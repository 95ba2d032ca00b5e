"""The symbols of one kernel build (System.map, vmlinux, modules) as a decoder's
`Symbolizer`: verify, undo KASLR, resolve bare addresses, add file:line.

One `KernelSymbols` serves every thread that decodes with its build (a rack's boards
share it): what it learns later (module tables) is kept under a lock, and each call
returns its own notes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from oopswatch.decode import MESSAGE_ROLE, SymbolizeResult
from oopswatch.detect.events import banner_release
from oopswatch.detect.frames import Frame
from oopswatch.errors import InputError
from oopswatch.regex_cache import compile_regex
from oopswatch.symbols.addr2line import DEFAULT_TIMEOUT, Addr2Line, Addr2LineError, SourceLocation
from oopswatch.symbols.addr2line_process import addr2line_binary
from oopswatch.symbols.code_bytes import CodeCheck, compare, parse_code_line
from oopswatch.symbols.elf import ElfInfo, read_elf_info, read_elf_symbols, read_loaded_bytes, read_vermagic
from oopswatch.symbols.kaslr import KaslrOffset, offset_from_frames, offset_from_messages
from oopswatch.symbols.system_map import load_system_map
from oopswatch.symbols.table import SymbolTable, guess_table_arch
from oopswatch.symbols.verify import (
    SourceCheck,
    Verification,
    running_version,
    verify_frames,
    version_problem,
    warning_location,
)

# Architectures whose call traces print return addresses the way %pB does (x86's
# printk_stack_address); the others print every address exactly (%pS).
PRINTS_RETURN_ADDRESSES = frozenset({"x86_64", "i386"})
# Architectures whose WARN() calls warn_slowpath_fmt (no trap, no __WARN_FLAGS): the
# address a WARNING prints is that call's return address, in the caller (or, after a
# tail call, in the caller's caller), not the line the WARNING names.
WARNS_THROUGH_A_CALL = frozenset({"arm", "mips"})
# How a frame that is not code is marked (its `module`): the kernel's data, or outside
# the kernel image (a module, as klogd called such addresses).
DATA_ADDRESS = "(data)"
MODULE_ADDRESS = "(module address)"


@dataclass
class _Module:
    path: Path
    table: SymbolTable
    addr2line: Addr2Line | None
    vermagic: str | None


@dataclass
class KernelSymbols:
    """Everything known about one build. Construct with `load_kernel_symbols`."""

    table: SymbolTable
    system_map: str | None = None
    vmlinux: ElfInfo | None = None
    modules_dir: str | None = None
    name: str | None = None
    banner: str | None = None  # the build's `Linux version ...`, from vmlinux or a banner file
    warnings: list[str] = field(default_factory=list)  # problems found while loading, one line each
    _addr2line: Addr2Line | None = None
    _modules: dict[tuple[str, tuple], _Module | str] = field(default_factory=dict)  # or why it is not used
    _modules_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the decoder's interface ------------------------------------------------------

    @cached_property
    def arch(self) -> str:
        if self.vmlinux is not None:
            return self.vmlinux.arch
        return guess_table_arch(self.table)

    @property
    def release(self) -> str | None:
        return banner_release(self.banner)

    def verify(self, frames: list[Frame], messages: list[str], kaslr: KaslrOffset | None = None) -> Verification:
        """Does this build belong to the kernel that printed the report? Its own
        `CPU: ... release #N` against the banner, frame sizes against the map, then the
        `Code:` bytes against vmlinux."""
        problem = version_problem(messages, self.banner, self.release)
        verification = verify_frames(frames, self.table)
        if problem is not None:
            return replace(verification, version_problem=problem)
        if verification.frames_match and self.vmlinux is not None:
            offset = (kaslr or self._kaslr(frames, messages)).offset
            code = self._check_code(frames, messages, offset)
            if code is not None:
                verification = replace(verification, code=code)
            if verification.matches:
                verification = replace(verification, source=self._check_warning_line(frames, messages, offset))
        return verification

    def _kaslr(self, frames: list[Frame], messages: list[str]) -> KaslrOffset:
        return offset_from_messages(messages) or offset_from_frames(frames, self.table) or KaslrOffset(0, "none")

    def _check_code(self, frames: list[Frame], messages: list[str], kaslr_offset: int) -> CodeCheck | None:
        code = parse_code_line(messages)
        address = self._crash_site(frames, kaslr_offset) if code is not None and self.vmlinux is not None else None
        if code is None or address is None or self.vmlinux is None:
            return None
        try:
            image = read_loaded_bytes(self.vmlinux, address - code.before, len(code.data))
        except InputError:
            return None
        return compare(code, image) if image is not None else None  # e.g. a module's code: not in vmlinux

    def _crash_site(self, frames: list[Frame], kaslr_offset: int) -> int | None:
        """The address in vmlinux of the report's crash site (its pc), if it is in vmlinux."""
        site = next((frame for frame in frames if frame.role == "pc" and not frame.module), None)
        if site is None:
            return None
        if site.function is not None and site.offset is not None and not site.decoded:
            return self.table.resolve_name(site.function, site.offset, site.size)
        return site.address - kaslr_offset if site.address is not None else None

    def _check_warning_line(self, frames: list[Frame], messages: list[str], kaslr_offset: int) -> SourceCheck | None:
        """A WARNING prints the file:line of its crash site; vmlinux's debug info must
        put the crash site there (the innermost of its inlined locations)."""
        printed = warning_location(messages)
        if printed is None or self._addr2line is None or self.arch in WARNS_THROUGH_A_CALL:
            return None
        address = self._crash_site(frames, kaslr_offset)
        if address is None or self.table.lookup(address) is None:
            return None  # not in vmlinux's text (a module's WARNING)
        try:
            [locations] = self._addr2line.locate([address])
        except Addr2LineError:
            return None
        if not locations or locations[0].file is None or locations[0].line is None:
            return None
        return SourceCheck(printed, f"{locations[0].file}:{locations[0].line}")

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown",
                  verification: Verification | None = None) -> SymbolizeResult:
        """Decode `frames`; `verification` is the caller's `verify` of them, if it made one."""
        if arch == "unknown":
            arch = self.arch
        notes = list(self.warnings)
        kaslr = self._kaslr(frames, messages)
        if verification is None:
            verification = self.verify(frames, messages, kaslr)
        bare = any(frame.address is not None and frame.function is None and frame.role != MESSAGE_ROLE
                   for frame in frames)
        if verification.any_checked:
            notes.append(verification.message)
        elif bare:
            notes.append("not verified: the kernel printed bare addresses only (no CONFIG_KALLSYMS) and nothing "
                         "else in the report can confirm the build, so the map is trusted as it is; each name is "
                         "a guess printed beside its raw address")
        if not verification.matches:
            return SymbolizeResult(frames=frames, notes=notes, build=self.describe(verification))
        if kaslr.offset:
            notes.append(f"KASLR offset {kaslr.offset:#x} ({kaslr.how})")
        return_addresses = arch in PRINTS_RETURN_ADDRESSES
        data_names: dict[int, str] = {}
        resolved = [self._resolve(frame, kaslr.offset, notes, return_addresses, data_names) for frame in frames]
        running = running_version(messages)
        expanded = self._add_source_lines(resolved, running[0] if running else self.release, notes)
        by_line: dict[int, list[Frame]] = {}
        for frame in expanded:
            by_line.setdefault(frame.log_line, []).append(frame)
        guessed = not verification.positive and any(frame.decoded for frame in expanded)
        return SymbolizeResult(frames=expanded, notes=_unique(notes), build=self.describe(verification),
                               lines_by_log_line=by_line, guessed=guessed, data_names=data_names)

    def prefetch_source_lines(self, text: str, limit: int = 64) -> None:
        """Ask addr2line now for the file:line of the first `limit` kernel functions that
        `text` (the start of a log) names as `func+0xoff/0xsize`: the answers are ready
        when the reports are decoded. Only a head start: nothing is decided here."""
        if self._addr2line is None:
            return
        addresses = self.table.named_addresses(text, limit)
        if addresses:
            self._addr2line.prefetch(addresses)

    def describe(self, verification: Verification | None = None) -> dict:
        return {
            "name": self.name,
            "system_map": self.system_map,
            "vmlinux": self.vmlinux.path if self.vmlinux else None,
            "modules": self.modules_dir,
            "verified": None if verification is None or not verification.any_checked else verification.matches,
            "arch": self.arch,
        }

    # -- resolution -------------------------------------------------------------------

    def _resolve(self, frame: Frame, kaslr_offset: int, notes: list[str], return_addresses: bool,
                 data_names: dict[int, str]) -> Frame:
        if frame.function is not None or frame.address is None or frame.inlined:
            return frame
        address = frame.address - kaslr_offset
        # A return address may lie just past the end of the calling function (a call to a
        # noreturn function is its last instruction): look up the byte before it, as
        # the kernel's %pB does, and print the offset as the kernel would have.
        adjust = 1 if return_addresses and frame.role == "trace" else 0
        placement = self.table.place(address - adjust)
        if placement.kind == "text" and placement.symbol is not None:
            found = placement.symbol
            return replace(frame, function=found.name, offset=found.offset + adjust, size=found.size,
                           module=found.module, decoded=True)
        if frame.role == MESSAGE_ROLE:
            return frame  # a number in a message that is not code: not a frame at all
        where = self.table.place(address) if adjust else placement  # the data is where it points
        if "data" in (placement.kind, where.kind):
            data = where.symbol if where.kind == "data" else placement.symbol
            if data is not None:
                data_names[frame.address] = str(data)
            notes.append(f"{frame.address:#x} is in the kernel's data{f' ({data})' if data else ''}, not its "
                         "text: not named as a function")
            return replace(frame, module=DATA_ADDRESS)
        notes.append(f"{frame.address:#x} is outside the kernel's text: a module address")
        return replace(frame, module=MODULE_ADDRESS)

    def _add_source_lines(self, frames: list[Frame], running_release: str | None, notes: list[str]) -> list[Frame]:
        """file:line for each frame through addr2line, with inlined frames inserted
        before the frame they were inlined into (innermost first)."""
        queries: dict[str | None, list[tuple[int, int]]] = {}  # module ▶ [(frame index, address)]
        tools: dict[str | None, Addr2Line] = {}
        for index, frame in enumerate(frames):
            if frame.function is None or frame.offset is None or frame.inlined:
                continue
            if frame.module:
                module = self._module(frame.module, running_release, notes)
                if module is None or module.addr2line is None:
                    continue
                start = module.table.resolve_name(frame.function, 0, None)
                if start is not None:
                    queries.setdefault(frame.module, []).append((index, start + frame.offset))
                    tools[frame.module] = module.addr2line
            elif self._addr2line is not None:
                start = self.table.resolve_name(frame.function, 0, frame.size)
                if start is not None:
                    queries.setdefault(None, []).append((index, start + frame.offset))
                    tools[None] = self._addr2line
        locations: dict[int, list[SourceLocation]] = {}
        for module_name, items in queries.items():
            try:
                answers = tools[module_name].locate([address for _, address in items])
            except Addr2LineError as error:  # a stuck or dead addr2line: no file:line this time
                notes.append(str(error))
                continue
            for (index, _), answer in zip(items, answers, strict=True):
                locations[index] = answer
        expanded: list[Frame] = []
        for index, frame in enumerate(frames):
            answer = locations.get(index)
            if not answer or answer[-1].file is None:
                expanded.append(frame)
                continue
            for location in answer[:-1]:
                expanded.append(Frame(function=location.function, file=location.file, line=location.line,
                                      inlined=True, reliable=frame.reliable, role=frame.role,
                                      log_line=frame.log_line, module=frame.module))
            outer = answer[-1]
            expanded.append(replace(frame, file=outer.file, line=outer.line))
        return expanded

    def _module(self, name: str, running_release: str | None, notes: list[str]) -> _Module | None:
        """The module's `.ko` from the build's modules directory, loaded once per file
        version; one whose vermagic names another release than the running kernel's is
        not used (klogd's rule: a module of another kernel decodes to nonsense)."""
        path = self._module_files.get(name.replace("-", "_")) if self.modules_dir else None
        if path is None:
            return None
        key = (name, file_identity(path))
        with self._modules_lock:
            module = self._modules.get(key)
            if module is None:
                try:
                    info = read_elf_info(path)
                    tool = Addr2Line(str(path), addr2line_binary(info.tool_prefix)) if info.has_line_info else None
                    module = _Module(path, read_elf_symbols(path, module=name), tool, read_vermagic(path))
                except InputError as error:
                    module = str(error)
                self._modules[key] = module
        if isinstance(module, str):
            notes.append(module)
            return None
        built_for = module.vermagic.split()[0] if module.vermagic else None
        if running_release is not None and built_for is not None and built_for != running_release:
            notes.append(f"{module.path}: built for {built_for} (vermagic '{module.vermagic}'), the running kernel "
                         f"is {running_release}: not used")
            return None
        return module

    @cached_property
    def _module_files(self) -> dict[str, Path]:
        """The modules directory's `.ko` files by module name, listed once."""
        return module_files(self.modules_dir) if self.modules_dir else {}

    @property
    def addr2line_processes(self) -> list[int]:
        """Process ids of this build's running addr2line processes."""
        tools = [self._addr2line] + [module.addr2line for module in self._modules.values()
                                     if isinstance(module, _Module)]
        return [pid for tool in tools if tool is not None and (pid := tool.pid) is not None]

    def close(self) -> None:
        if self._addr2line is not None:
            self._addr2line.close()
        with self._modules_lock:
            for module in self._modules.values():
                if isinstance(module, _Module) and module.addr2line is not None:
                    module.addr2line.close()


def file_identity(path: str | os.PathLike[str] | None) -> tuple:
    """What tells one version of a file from the next: device, inode, size, mtime
    (a build replaced in place, or a symlink pointed at another build)."""
    if path is None:
        return ()
    try:
        stat = os.stat(path)
    except OSError as error:
        return ("missing", error.errno)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def module_files(modules_dir: str) -> dict[str, Path]:
    """Every `name.ko` (or `name.ko.debug`) under `modules_dir` by module name, the
    first found winning; the kernel prints module names with `_` where a file may
    have `-`."""
    found: dict[str, Path] = {}
    for root, _, files in os.walk(modules_dir):
        for file in sorted(files):
            match = _MODULE_FILE_RE.match(file)
            if match is not None:
                found.setdefault(match.group(1).replace("-", "_"), Path(root) / file)
    return found


_MODULE_FILE_RE = compile_regex(r"^(.+)\.ko(?:\.debug)?$")


def load_kernel_symbols(system_map: str | None = None, vmlinux: str | None = None, modules_dir: str | None = None,
                        name: str | None = None, addr2line_timeout: float = DEFAULT_TIMEOUT) -> KernelSymbols:
    """Load a build's symbols. A bad System.map raises; a vmlinux that cannot give
    file:line is a warning (the map still decodes names)."""
    if system_map is None and vmlinux is None:
        raise InputError("give a System.map or a vmlinux to decode with")
    warnings: list[str] = []
    table = load_system_map(system_map) if system_map else None
    info: ElfInfo | None = None
    tool: Addr2Line | None = None
    if vmlinux is not None:
        info = read_elf_info(vmlinux)  # raises for a missing or non-ELF file
        if table is None:
            table = read_elf_symbols(vmlinux)
        if info.has_line_info:
            tool = Addr2Line(vmlinux, addr2line_binary(info.tool_prefix), source_anchor=table.address_of("kernel_init"),
                             timeout=addr2line_timeout)
        else:
            warnings.append(f"{vmlinux}: has no debug info (.debug_line), so no file:line; "
                            "build with CONFIG_DEBUG_INFO")
    if modules_dir is not None and not Path(modules_dir).is_dir():
        raise InputError(f"{modules_dir}: modules directory not found")
    assert table is not None
    return KernelSymbols(table=table, system_map=system_map, vmlinux=info, modules_dir=modules_dir, name=name,
                         banner=known_banner(system_map, info), warnings=warnings, _addr2line=tool)


def known_banner(system_map: str | None, vmlinux: ElfInfo | None) -> str | None:
    """The build's own banner: vmlinux's linux_banner, else a `banner` file beside the map."""
    if vmlinux is not None and vmlinux.banner is not None:
        return vmlinux.banner
    return read_banner_file(Path(system_map).parent) if system_map else None


def read_banner_file(directory: Path) -> str | None:
    """The `banner` file a build directory may hold beside its System.map."""
    path = directory / "banner"
    return (path.read_text(errors="replace").strip() or None) if path.is_file() else None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
