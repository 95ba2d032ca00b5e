"""Reports of one watcher into the output directory's report index, off the console's
thread: `record` only queues, one thread writes, so a slow or locked index never holds
up the reading of a port. Uses the index's public API only (`open_index`, `record`,
`record_repeat`)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from oopswatch.decode import DecodedReport
from oopswatch.sinks.index import open_index

if TYPE_CHECKING:
    from oopswatch.watch import BootSession

log = logging.getLogger("oopswatch.index")


class IndexRecorder:
    """`record` and `repeat` serve as the watcher's `on_report` and `on_repeat`."""

    def __init__(self, output: str | Path, board: str, url: str | None = None):
        """`url`: --index (a lab's database or an index file); None: the output's reports.sqlite."""
        self.board = board
        self.index = open_index(output, url, on_message=lambda message: log.warning("index: %s", message))
        self._queue: queue.Queue[tuple | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"oopswatch-index-{board}", daemon=True)
        self._thread.start()

    def record(self, report: DecodedReport, session: BootSession, directory: Path) -> None:
        self._queue.put((report, session, directory))

    def repeat(self, session: BootSession, title: str, count: int, last_seen: float) -> None:
        """The watcher's `on_repeat`: the boot's report of `title` counts `count` times now."""
        self._queue.put((title, session, (count, last_seen)))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then close the index."""
        self._queue.put(None)
        self._thread.join(timeout)
        self.index.close()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            report, session, directory = item
            try:
                if isinstance(report, str):  # a repeat: (title, session, (count, last seen))
                    count, last_seen = directory
                    self.index.record_repeat(board=self.board, boot=session.directory.name, title=report,
                                             time=last_seen, count=count)
                    continue
                self.index.record(board=self.board, build=(report.build or {}).get("name"),
                                  boot=session.directory.name, time=report.report.start_time or time.time(),
                                  kind=report.kind, title=report.title, crash=report.crash,
                                  corrupted=report.corrupted, report_dir=str(directory),
                                  console_log=str(session.directory / "console.log"))
            except Exception:  # the index must never take the watcher down
                log.exception("recording a report in the index failed")
