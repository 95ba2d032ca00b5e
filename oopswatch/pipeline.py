"""One console pipeline: bytes ▶ lines ▶ detector events. The same object serves a
live port, a QEMU socket and a saved log; only the caller's clock differs.

Decoding is the next step and not done here: a live watcher decodes on its report
worker (never on the thread that reads the port), `scan_chunks` decodes as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from oopswatch.console import Line, LineSplitter
from oopswatch.decode import DecodedReport, Symbolizer, decode
from oopswatch.detect import DEFAULT_IDLE_TIMEOUT, BootBanner, Detector, Event, Report

REORDER_LIMIT = 100  # reports held back to print them in the order they start


@dataclass
class PipelineOutput:
    """What one call to the pipeline produced."""

    lines: list[Line] = field(default_factory=list)
    events: list[Report | BootBanner] = field(default_factory=list)  # reports and banners, in order

    @property
    def reports(self) -> list[Report]:
        return [event for event in self.events if isinstance(event, Report)]


class Pipeline:
    """Feeds byte chunks through the console layer and the detector."""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, arch: str | None = None):
        self.splitter = LineSplitter()
        self.detector = Detector(idle_timeout=idle_timeout, arch=arch)

    @property
    def busy(self) -> bool:
        """A report is open: `expire` should be called regularly."""
        return self.detector.busy

    @property
    def lines_done(self) -> int:
        """Complete lines fed so far."""
        return self.splitter.next_line_number - 1

    def feed(self, chunk: bytes, now: float = 0.0) -> PipelineOutput:
        out = PipelineOutput(lines=self.splitter.feed(chunk, now))
        self._keep(self.detector.feed_lines(out.lines), out)
        return out

    def expire(self, now: float) -> PipelineOutput:
        """Live use: close reports whose console went quiet."""
        out = PipelineOutput()
        self._keep(self.detector.expire(now), out)
        return out

    def finish(self, now: float = 0.0) -> PipelineOutput:
        """End of input: the last partial line and every open report."""
        out = PipelineOutput(lines=self.splitter.flush(now))
        self._keep(self.detector.feed_lines(out.lines), out)
        self._keep(self.detector.finish(), out)
        return out

    @staticmethod
    def _keep(events: Iterable[Event], out: PipelineOutput) -> None:
        out.events.extend(event for event in events if isinstance(event, Report | BootBanner))


def scan_chunks(chunks: Iterable[bytes], source: str, symbolizer_for: Callable[[], Symbolizer | None] | None = None,
                arch: str | None = None, on_banner: Callable[[BootBanner], None] | None = None,
                in_start_order: bool = False) -> Iterator[DecodedReport]:
    """All reports in a finite byte stream, decoded as they come: in the order they end,
    or (`in_start_order`) in the order they start, each held back only while a report
    that started before it is still open. A banner goes to `on_banner` before the reports
    after it are decoded."""
    pipeline = Pipeline(arch=arch)
    symbolizer_for = symbolizer_for or (lambda: None)
    held: list[DecodedReport] = []

    def decoded(out: PipelineOutput) -> Iterator[DecodedReport]:
        for event in out.events:
            if isinstance(event, BootBanner):
                if on_banner is not None:
                    on_banner(event)
            else:
                yield decode(event, source, symbolizer_for())

    for chunk in chunks:
        out = pipeline.feed(chunk)
        if not out.events:
            continue
        if not in_start_order:
            yield from decoded(out)
            continue
        held.extend(decoded(out))
        if not pipeline.busy or len(held) > REORDER_LIMIT:
            held.sort(key=lambda report: report.report.start_line)
            yield from held
            held.clear()
    tail = list(decoded(pipeline.finish()))
    if not in_start_order:
        yield from tail
        return
    yield from sorted(held + tail, key=lambda report: report.report.start_line)
