"""Which build is running: pick the symbols for each boot from the banner it prints.

A wrong System.map is worse than none: it turns bare addresses into plausible
nonsense. So:

- A build whose banner is known (the board YAML, a `banner` file, vmlinux's
  linux_banner) and differs from the boot banner is another build. It is never used
  to name addresses; the report says `does not match the running kernel: banner ...
  vs ...` and keeps the raw addresses.
- Equal banners do not prove equal builds (reproducible builds fix the timestamp), so
  the builds whose banner matches exactly are checked against the report (frame
  sizes, the `Code:` bytes with a vmlinux, the report's own `release #N`); one the
  report refutes is never used; where several match, the report decides.
- Builds whose banner is unknown (a System.map alone) come next, unless their
  release, known otherwise (their modules' vermagic, a `System.map-<release>` name),
  is another; they are checked the same way.
- Where nothing in the report can check a build (bare addresses, no vmlinux), the
  one build left is used with an honest note, each name printed beside its raw
  address; with several builds left and nothing to tell them apart, nothing is
  decoded (a guess between two builds is a coin toss).
- With no banner seen at all (the watcher attached after the boot), every build of
  the board is a candidate, the default first, checked the same way.

Without a board config, klogd's search path for System.map, by release. The decoded
report names the build and how it was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.boards import Board, BoardError, Build
from oopswatch.decode import SymbolizeResult
from oopswatch.detect.events import BootBanner
from oopswatch.detect.frames import Frame
from oopswatch.errors import InputError
from oopswatch.regex_cache import compile_regex
from oopswatch.symbols.elf import read_elf_info, read_vermagic
from oopswatch.symbols.kernel import module_files, read_banner_file
from oopswatch.symbols.loaded import LOADED
from oopswatch.symbols.verify import Verification

KLOGD_MAP_PATHS = ("/boot/System.map-{release}", "/boot/System.map", "/System.map", "/usr/src/linux/System.map")
_RELEASE_IN_NAME_RE = compile_regex(r"^System\.map-(\d\S*)$")


@dataclass(frozen=True)
class Candidate:
    """A build that may be running; `how` says why it is a candidate."""

    name: str
    load: dict  # keyword arguments of load_kernel_symbols
    how: str
    exact: bool = False  # its banner is the boot banner


@dataclass(frozen=True)
class Excluded:
    """A build known not to be the running one, and the note that says why."""

    name: str
    load: dict
    reason: str


@dataclass(frozen=True)
class BootChoice:
    """The candidate builds for the current boot, best first, and why; immutable, so a
    decode on another thread keeps the choice of the boot its report came from."""

    candidates: list[Candidate]
    chosen_by: str
    banner: str | None = None
    excluded: list[Excluded] = field(default_factory=list)


class BuildChooser:
    """Keeps the build choice for the current boot and symbolizes with it."""

    def __init__(self, board: Board | None = None, explicit: dict | None = None, strict: bool = True):
        """With `strict`, a board whose builds cannot be listed (a missing directory, a
        glob matching nothing) raises `BoardError`; otherwise (a long-running watcher)
        that boot is not decoded, and the builds are looked for again at the next boot."""
        self.board = board
        self.explicit = explicit  # --system-map/--vmlinux/--modules given on the command line
        self.strict = strict
        self.choice = self._guarded(self._initial_choice)

    # -- choosing ---------------------------------------------------------------------

    def _initial_choice(self) -> BootChoice:
        if self.explicit:
            return BootChoice([_explicit(self.explicit)], "the command line")
        if self.board is None:
            return BootChoice([], "no board config and no boot banner seen")
        builds = self.board.default_first(self.board.builds())
        candidates = [_candidate(build, "board default (no boot banner seen)" if build.name == self.board.default_build
                                 else "a build of the board (no boot banner seen), checked against the report")
                      for build in builds]
        return BootChoice(candidates, candidates[0].how if candidates else f"board {self.board.name} has no builds")

    def _guarded(self, choose) -> BootChoice:
        try:
            return choose()
        except BoardError as error:
            if self.strict:
                raise
            return BootChoice([], str(error))

    def on_banner(self, event: BootBanner) -> BootChoice:
        """A boot started: choose again."""
        self.choice = self._guarded(lambda: self._choose_for(event))
        return self.choice

    def _choose_for(self, event: BootBanner) -> BootChoice:
        if self.explicit:
            candidate = _explicit(self.explicit)
            other = _other_banner(_explicit_banners(self.explicit), event.banner)
            if other is not None:
                return BootChoice([], "the command line", event.banner, [_excluded(event.banner, other, candidate)])
            return BootChoice([candidate], "the command line", event.banner)
        if self.board is None:
            paths = [Path(template.format(release=event.release)) for template in KLOGD_MAP_PATHS]
            found = [Candidate(str(path), {"system_map": str(path)}, f"klogd search path for release {event.release}")
                     for path in paths if path.is_file()]
            return BootChoice(found, f"klogd search path for release {event.release}", event.banner)
        exact: list[Candidate] = []
        unknown: list[Candidate] = []
        excluded: list[Excluded] = []
        for build in self.board.default_first(self.board.builds()):
            banners = _banners(build.banner, build.vmlinux)
            if banners:
                other = _other_banner(banners, event.banner)
                if other is None:
                    exact.append(_candidate(build, "banner", exact=True))
                else:
                    excluded.append(_excluded(event.banner, other, _candidate(build, "")))
                continue
            release, where = _release_without_banner(build)
            if release is not None and release != event.release:
                excluded.append(Excluded(build.name, _load(build), f"{_what(_load(build))} does not match the "
                                         f"running kernel: release {event.release} vs {release} ({where}) "
                                         f"(build {build.name})"))
            elif release is not None:
                unknown.append(_candidate(build, f"release {release} ({where}; its banner is unknown), checked "
                                          "against the report"))
            else:
                unknown.append(_candidate(build, "builds without a known banner, checked against the report"))
        candidates = exact + unknown
        if candidates:
            chosen_by = candidates[0].how
        elif excluded:
            chosen_by = f"no build of board {self.board.name} has the banner the kernel printed"
        else:
            chosen_by = f"board {self.board.name} has no builds"
        return BootChoice(candidates, chosen_by, event.banner, excluded)

    # -- symbolizing --------------------------------------------------------------------

    @property
    def has_symbols(self) -> bool:
        """There is something to decode with (or to refuse) for the current boot."""
        return bool(self.choice.candidates or self.choice.excluded)

    def symbolizer(self) -> BootSymbolizer | None:
        """The pipeline's `symbolizer_for`: the current boot's choice, when there is one.
        The symbolizer keeps that choice, whenever and wherever it decodes."""
        return BootSymbolizer(self.choice) if self.has_symbols else None

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown") -> SymbolizeResult:
        return BootSymbolizer(self.choice).symbolize(frames, messages, arch)

    def preload(self, log_start: str = "") -> tuple[list[str], list[str]]:
        """Load the current candidates now. Returns the errors (a build that cannot be
        used: bad map, not an ELF file) and the warnings (no debug info), one line each.
        `log_start`, the beginning of a saved log: addr2line is asked ahead for the
        functions it names (see `KernelSymbols.prefetch_source_lines`)."""
        errors: list[str] = []
        warnings: list[str] = []
        for candidate in self.choice.candidates:
            try:
                with LOADED.use(candidate.load, candidate.name) as symbols:
                    warnings.extend(symbols.warnings)
                    if log_start:
                        symbols.prefetch_source_lines(log_start)
            except InputError as error:
                errors.append(str(error))
        return errors, warnings


@dataclass(frozen=True)
class BootSymbolizer:
    """A decoder's `Symbolizer` for one boot's choice of builds. Holds no mutable state:
    any thread may call it; the builds come from the process-wide `LOADED` cache."""

    choice: BootChoice

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown") -> SymbolizeResult:
        notes: list[str] = []
        checked: list[tuple[Candidate, Verification]] = []
        for candidate in self.choice.candidates:
            try:
                with LOADED.use(candidate.load, candidate.name) as symbols:
                    verification = symbols.verify(frames, messages)
                    if verification.positive:
                        return self._named(symbols.symbolize(frames, messages, arch, verification), candidate, notes)
            except InputError as error:
                notes.append(str(error))
                continue
            checked.append((candidate, verification))
        usable = [(candidate, verification) for candidate, verification in checked if verification.matches]
        tier = [(candidate, verification) for candidate, verification in usable if candidate.exact] or usable
        if tier:
            candidate, verification = tier[0]
            if len(tier) == 1 or self.choice.banner is None:
                if len(tier) > 1:
                    notes.append(f"{len(tier)} builds could be running ({', '.join(c.name for c, _ in tier)}) and "
                                 f"nothing in the report tells them apart: decoded with {candidate.name}")
                try:
                    with LOADED.use(candidate.load, candidate.name) as symbols:
                        return self._named(symbols.symbolize(frames, messages, arch, verification), candidate, notes)
                except InputError as error:  # its files changed since it was checked
                    notes.append(str(error))
            else:
                notes.append(f"not decoded: {len(tier)} builds could be running "
                             f"({', '.join(c.name for c, _ in tier)}) and nothing in the report tells them apart "
                             "(bare addresses, and no vmlinux to check a Code: line or a WARNING's file:line against)")
                return SymbolizeResult(frames=frames, notes=notes,
                                       build={"name": None, "chosen_by": self.choice.chosen_by, "verified": None})
        refused = [(candidate, verification) for candidate, verification in checked if not verification.matches]
        if refused or self.choice.excluded:
            # Nothing fits: say why, and keep the raw addresses.
            notes += [excluded.reason for excluded in self.choice.excluded]
            notes += [verification.message for _, verification in refused]
            first = refused[0][0] if refused else self.choice.excluded[0]
            build = {"name": first.name, "system_map": first.load.get("system_map"),
                     "vmlinux": first.load.get("vmlinux"), "modules": first.load.get("modules_dir"),
                     "verified": False, "arch": None, "chosen_by": self.choice.chosen_by}
            return SymbolizeResult(frames=frames, notes=_unique(notes), build=build)
        notes.append(f"not decoded: {self.choice.chosen_by}")
        return SymbolizeResult(frames=frames, notes=notes, build={"name": None, "chosen_by": self.choice.chosen_by})

    @staticmethod
    def _named(result: SymbolizeResult, candidate: Candidate, notes: list[str]) -> SymbolizeResult:
        result.notes = notes + result.notes
        result.build = {**(result.build or {}), "name": candidate.name, "chosen_by": candidate.how}
        return result


def close_loaded_builds() -> None:
    """Stop the addr2line processes of every loaded build."""
    LOADED.close()


def _explicit(load: dict) -> Candidate:
    return Candidate(load.get("system_map") or load.get("vmlinux") or "?", load, "the command line")


def _banners(claimed: str | None, vmlinux: str | Path | None) -> list[str]:
    """What a build says it is: the banner its config or `banner` file claims, and the
    one compiled into its vmlinux (read once per file version, cached on disk). Both
    must be the boot banner: a vmlinux whose linux_banner differs is another build,
    whatever its directory claims."""
    banners = [claimed] if claimed else []
    if vmlinux is not None:
        try:
            compiled = read_elf_info(vmlinux).banner
        except InputError:
            compiled = None  # loading it says what is wrong
        if compiled is not None:
            banners.append(compiled)
    return banners


def _explicit_banners(load: dict) -> list[str]:
    system_map = load.get("system_map")
    return _banners(read_banner_file(Path(system_map).parent) if system_map else None, load.get("vmlinux"))


def _load(build: Build) -> dict:
    load: dict = {}
    if build.system_map:
        load["system_map"] = str(build.system_map)
    if build.vmlinux:
        load["vmlinux"] = str(build.vmlinux)
    if build.modules:
        load["modules_dir"] = str(build.modules)
    return load


def _candidate(build: Build, how: str, exact: bool = False) -> Candidate:
    return Candidate(build.name, _load(build), how, exact)


def _what(load: dict) -> str:
    return "System.map" if load.get("system_map") else "vmlinux"


def _other_banner(banners: list[str], running: str) -> str | None:
    """The first of a build's known banners that is not the running kernel's."""
    return next((banner for banner in banners if not _same_banner(banner, running)), None)


def _excluded(running: str, banner: str, candidate: Candidate) -> Excluded:
    """A build whose banner is known must be the build the kernel said it is."""
    return Excluded(candidate.name, candidate.load,
                    f"{_what(candidate.load)} does not match the running kernel: banner '{_normal(running)}' vs "
                    f"'{_normal(banner)}' (build {candidate.name})")


def _release_without_banner(build: Build) -> tuple[str | None, str]:
    """The release of a build whose banner is unknown, when something else tells it:
    its System.map's name (`System.map-6.1.0-18-amd64`), or its modules' vermagic."""
    if build.system_map is not None:
        match = _RELEASE_IN_NAME_RE.match(build.system_map.name)
        if match is not None:
            return match.group(1), f"the name {build.system_map.name}"
    if build.modules is not None:
        for path in sorted(module_files(str(build.modules)).values())[:1]:
            try:
                vermagic = read_vermagic(path)
            except InputError:
                continue
            if vermagic:
                return vermagic.split()[0], f"vermagic of {path.name}"
    return None, ""


def _normal(banner: str) -> str:
    return " ".join(banner.split())


def _same_banner(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _normal(a) == _normal(b)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))

