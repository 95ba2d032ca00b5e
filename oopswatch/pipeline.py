"""One console pipeline: bytes ▶ lines ▶ detector ▶ decoder. The same object serves a
live port, a QEMU socket and a saved log; only the caller's clock differs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from oopswatch.console import Line, LineSplitter
from oopswatch.decode import DecodedReport, Symbolizer, decode
from oopswatch.detect import DEFAULT_IDLE_TIMEOUT, BootBanner, Detector, Event, Report


@dataclass
class PipelineOutput:
    """What one call to the pipeline produced."""

    lines: list[Line] = field(default_factory=list)
    events: list[DecodedReport | BootBanner] = field(default_factory=list)  # reports and banners, in order
    reports: list[DecodedReport] = field(default_factory=list)


class Pipeline:
    """Feeds byte chunks through the console layer, the detector and the decoder.

    `symbolizer_for` is asked for the symbolizer each time a report is decoded, so the
    caller can switch builds when a new boot banner appears.
    """

    def __init__(self, source: str, symbolizer_for: Callable[[], Symbolizer | None] | None = None,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, arch: str | None = None,
                 on_banner: Callable[[BootBanner], None] | None = None):
        self.source = source
        self.splitter = LineSplitter()
        self.detector = Detector(idle_timeout=idle_timeout, arch=arch)
        self._symbolizer_for = symbolizer_for or (lambda: None)
        self._on_banner = on_banner

    def feed(self, chunk: bytes, now: float = 0.0) -> PipelineOutput:
        out = PipelineOutput(lines=self.splitter.feed(chunk, now))
        self._handle(self.detector.feed_lines(out.lines), out)
        return out

    def expire(self, now: float) -> PipelineOutput:
        """Live use: close reports whose console went quiet."""
        out = PipelineOutput()
        self._handle(self.detector.expire(now), out)
        return out

    def finish(self, now: float = 0.0) -> PipelineOutput:
        """End of input: the last partial line and every open report."""
        out = PipelineOutput(lines=self.splitter.flush(now))
        self._handle(self.detector.feed_lines(out.lines), out)
        self._handle(self.detector.finish(), out)
        return out

    def _handle(self, events: Iterable[Event], out: PipelineOutput) -> None:
        for event in events:
            if isinstance(event, Report):
                decoded = decode(event, self.source, self._symbolizer_for())
                out.reports.append(decoded)
                out.events.append(decoded)
            elif isinstance(event, BootBanner):
                out.events.append(event)
                if self._on_banner is not None:
                    self._on_banner(event)


def scan_chunks(chunks: Iterable[bytes], source: str, symbolizer_for: Callable[[], Symbolizer | None] | None = None,
                arch: str | None = None,
                on_banner: Callable[[BootBanner], None] | None = None) -> Iterator[DecodedReport]:
    """All reports in a finite byte stream, in the order they end."""
    pipeline = Pipeline(source, symbolizer_for, arch=arch, on_banner=on_banner)
    for chunk in chunks:
        yield from pipeline.feed(chunk).reports
    yield from pipeline.finish().reports
