"""Which build is running: pick the symbols for each boot from the banner it prints.

Order of trust: a build whose banner matches the boot banner exactly; else builds
with the same release (`6.1.0`), the first one whose symbols verify against the
report; else builds whose banner is unknown (a System.map alone), verified the same
way; with no banner seen at all, the board's default build, verified. Without a board config, klogd's
search path for System.map, by release. The decoded report names the build and how
it was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oopswatch.boards import Board, BoardError, Build, build_banner
from oopswatch.decode import SymbolizeResult
from oopswatch.detect.events import BootBanner, banner_release
from oopswatch.detect.frames import Frame
from oopswatch.errors import InputError
from oopswatch.symbols.kernel import KernelSymbols, load_kernel_symbols
from oopswatch.symbols.verify import Verification

# Loaded builds, shared by every chooser in the process (loading a vmlinux is not free).
_LOADED: dict[str, KernelSymbols | InputError] = {}

KLOGD_MAP_PATHS = ("/boot/System.map-{release}", "/boot/System.map", "/System.map", "/usr/src/linux/System.map")


@dataclass
class Candidate:
    name: str
    load: dict  # keyword arguments of load_kernel_symbols
    banner_must_match: bool = True  # False when chosen knowing the banner differs (same release)


@dataclass
class BootChoice:
    """The candidate builds for the current boot, best first, and why."""

    candidates: list[Candidate]
    chosen_by: str
    banner: str | None = None


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
        has_default = any(build.name == self.board.default_build for build in builds)
        return BootChoice([_candidate(build) for build in builds],
                          "board default (no boot banner seen)" if has_default else "only builds of the board "
                          "(no boot banner seen)")

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
            return BootChoice([_explicit(self.explicit)], "the command line", event.banner)
        if self.board is None:
            paths = [Path(template.format(release=event.release)) for template in KLOGD_MAP_PATHS]
            found = [Candidate(str(path), {"system_map": str(path)}) for path in paths if path.is_file()]
            return BootChoice(found, f"klogd search path for release {event.release}", event.banner)
        builds = self.board.default_first(self.board.builds())
        banners = [build_banner(build) for build in builds]  # may read each vmlinux: once
        exact = [build for build, banner in zip(builds, banners, strict=True) if _same_banner(banner, event.banner)]
        if exact:
            return BootChoice([_candidate(build) for build in exact], "banner", event.banner)
        same_release = [build for build, banner in zip(builds, banners, strict=True)
                        if banner_release(banner) == event.release]
        if same_release:
            return BootChoice([_candidate(build, banner_must_match=False) for build in same_release],
                              f"release {event.release} (no build has this exact banner)", event.banner)
        # Builds that say nothing of themselves (a System.map alone): any may be running;
        # the report's frames decide, the default build first.
        unknown = [build for build, banner in zip(builds, banners, strict=True) if banner is None]
        if unknown:
            return BootChoice([_candidate(build) for build in unknown],
                              "builds without a known banner, checked against the report", event.banner)
        return BootChoice([], f"no build of board {self.board.name} is release {event.release}", event.banner)

    # -- symbolizing --------------------------------------------------------------------

    @property
    def has_symbols(self) -> bool:
        """There is something to decode with for the current boot."""
        return bool(self.choice.candidates)

    def symbolizer(self) -> BuildChooser | None:
        """The pipeline's `symbolizer_for`: this chooser, when the boot has symbols."""
        return self if self.has_symbols else None

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown") -> SymbolizeResult:
        notes: list[str] = []
        rejected: list[tuple[Candidate, KernelSymbols, str | None, Verification | None]] = []
        for candidate in self.choice.candidates:
            symbols = self._symbols(candidate, notes)
            if symbols is None:
                continue
            banner_problem = self._banner_problem(candidate, symbols)
            if banner_problem is not None:
                rejected.append((candidate, symbols, banner_problem, None))
                continue
            verification = symbols.verify(frames, messages)
            if verification.matches:
                return self._named(symbols.symbolize(frames, messages, arch, verification), candidate, notes)
            rejected.append((candidate, symbols, None, verification))
        if not rejected:
            notes.append(f"not decoded: {self.choice.chosen_by}")
            return SymbolizeResult(frames=frames, notes=notes,
                                   build={"name": None, "chosen_by": self.choice.chosen_by})
        # Nothing fits: report why the first choice does not, and keep the raw addresses.
        candidate, symbols, banner_problem, verification = rejected[0]
        if banner_problem is not None:
            result = SymbolizeResult(frames=frames, notes=[banner_problem],
                                     build={**symbols.describe(), "verified": False})
            return self._named(result, candidate, notes)
        return self._named(symbols.symbolize(frames, messages, arch, verification), candidate, notes)

    def _banner_problem(self, candidate: Candidate, symbols: KernelSymbols) -> str | None:
        """A build whose banner is known must be the build the kernel said it is."""
        running = self.choice.banner
        if not candidate.banner_must_match or running is None or symbols.banner is None:
            return None
        if _same_banner(symbols.banner, running):
            return None
        return (f"System.map does not match the running kernel: the kernel printed '{running}', "
                f"the build is '{symbols.banner}'")

    def _named(self, result: SymbolizeResult, candidate: Candidate, notes: list[str]) -> SymbolizeResult:
        result.notes = notes + result.notes
        result.build = {**(result.build or {}), "name": candidate.name, "chosen_by": self.choice.chosen_by}
        return result

    def preload(self) -> tuple[list[str], list[str]]:
        """Load the current candidates now. Returns the errors (a build that cannot be
        used: bad map, not an ELF file) and the warnings (no debug info), one line each."""
        errors: list[str] = []
        warnings: list[str] = []
        for candidate in self.choice.candidates:
            symbols = self._symbols(candidate, errors)
            if symbols is not None:
                warnings.extend(symbols.warnings)
        return errors, warnings

    def _symbols(self, candidate: Candidate, notes: list[str]) -> KernelSymbols | None:
        key = repr(sorted(candidate.load.items()))
        if key not in _LOADED:
            try:
                _LOADED[key] = load_kernel_symbols(**candidate.load, name=candidate.name)
            except InputError as error:
                _LOADED[key] = error
        loaded = _LOADED[key]
        if isinstance(loaded, InputError):
            notes.append(str(loaded))
            return None
        return loaded


def close_loaded_builds() -> None:
    """Stop the addr2line processes of every loaded build."""
    for loaded in _LOADED.values():
        if isinstance(loaded, KernelSymbols):
            loaded.close()
    _LOADED.clear()


def _explicit(load: dict) -> Candidate:
    return Candidate(load.get("system_map") or load.get("vmlinux") or "?", load)


def _candidate(build: Build, banner_must_match: bool = True) -> Candidate:
    load: dict = {}
    if build.system_map:
        load["system_map"] = str(build.system_map)
    if build.vmlinux:
        load["vmlinux"] = str(build.vmlinux)
    if build.modules:
        load["modules_dir"] = str(build.modules)
    return Candidate(build.name, load, banner_must_match)


def _same_banner(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and " ".join(a.split()) == " ".join(b.split())
