"""The dashboard's routes: each page asks the index (read-only) and hands the answer to a
template. Endpoints are plain functions, which Starlette runs in its thread pool; each
thread keeps its own read-only connection, opened again after a failure, so a database
that restarts costs one "index unavailable" page, not the server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from oopswatch.errors import InputError
from oopswatch.sinks.index import connect_reader
from oopswatch.sinks.index.db import Db, describe_error
from oopswatch.sinks.index.queries import (
    filter_choices,
    parse_since,
    read_boards,
    read_places,
    read_problem,
    read_problems,
    read_report,
    read_reports,
)
from oopswatch.web import display
from oopswatch.web.files import link_path, media_type, servable

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 100
DEFAULT_REFRESH = 30  # seconds between a page's own reloads
# No script of any kind, no frames, nothing from elsewhere: the pages are text and tables.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class IndexReaders:
    """A read-only connection per server thread."""

    def __init__(self, target: str):
        self.target = target
        self._local = threading.local()

    @contextlib.contextmanager
    def db(self) -> Iterator[Db]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect_reader(self.target)
        try:
            yield db
        except Exception:
            db.close()
            self._local.db = None
            raise


class Unavailable(Exception):
    """The index cannot be read now."""


def create_app(index: str, files_root: Path | None, refresh: int = DEFAULT_REFRESH) -> Starlette:
    """The dashboard of `index` (an index file or a postgresql:// URL); report files and
    console logs are served from `files_root` only (None: not at all)."""
    readers = IndexReaders(index)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(when=display.when, ago=display.ago)
    templates.env.globals.update(is_new=display.is_new, board_state=display.board_state, refresh=refresh)

    def ask(question):
        try:
            with readers.db() as db:
                return question(db)
        except InputError as error:
            raise Unavailable(str(error)) from None
        except Exception as error:  # the database went away mid-question
            raise Unavailable(f"{index}: {describe_error(error)}") from None

    def page(request: Request, name: str, status_code: int = 200, **context: object) -> Response:
        return templates.TemplateResponse(request, name, {"now": time.time(), **context}, status_code=status_code,
                                          headers=SECURITY_HEADERS)

    def problems(request: Request) -> Response:
        query = request.query_params
        board, kind, since_text = (query.get(name) or None for name in ("board", "kind", "since"))
        number = _page_number(query.get("page"))
        error = None
        since = None
        if since_text:
            try:
                since = parse_since(since_text)
            except InputError as bad:
                error = str(bad).replace("--since", "since", 1)
        found = ask(lambda db: (read_problems(db, board=board, since=since, kind=kind,
                                              limit=PAGE_SIZE + 1, offset=number * PAGE_SIZE),
                                filter_choices(db)))
        rows, (boards, kinds) = found
        filters = {"board": board or "", "kind": kind or "", "since": since_text or ""}
        return page(request, "problems.html", problems=rows[:PAGE_SIZE], boards=boards, kinds=kinds, filters=filters,
                    error=error, page=number, more=len(rows) > PAGE_SIZE,
                    page_link=lambda n: "/problems?" + urlencode({**{k: v for k, v in filters.items() if v},
                                                                   "page": n}))

    def problem(request: Request) -> Response:
        problem_id = request.path_params["problem_id"]
        number = _page_number(request.query_params.get("page"))
        found, places, reports = ask(lambda db: (read_problem(db, problem_id), read_places(db, problem_id),
                                                 read_reports(db, problem_id=problem_id, limit=PAGE_SIZE + 1,
                                                              offset=number * PAGE_SIZE)))
        if found is None:
            raise HTTPException(404, f"no problem {problem_id} in this index")
        return page(request, "problem.html", problem=found, places=places, reports=reports[:PAGE_SIZE],
                    page=number, more=len(reports) > PAGE_SIZE)

    def report(request: Request) -> Response:
        report_id = request.path_params["report_id"]
        found = ask(lambda db: read_report(db, report_id))
        if found is None:
            raise HTTPException(404, f"no report {report_id} in this index")
        entry, problem_id = found
        text, excerpt = entry.text, entry.excerpt
        if text is None:  # recorded before the index kept texts: from its directory, when it is served here
            text = _served_text(files_root, entry.report_dir, "report.txt")
            excerpt = _served_text(files_root, entry.report_dir, "excerpt.log")
        links = {"report.json": link_path(files_root, entry.report_dir, "report.json"),
                 "report.txt": link_path(files_root, entry.report_dir, "report.txt"),
                 "console.log": link_path(files_root, entry.console_log)}
        return page(request, "report.html", report=entry, problem_id=problem_id, text=text, excerpt=excerpt,
                    links=links)

    def boards(request: Request) -> Response:
        return page(request, "boards.html", boards=ask(read_boards))

    def files(request: Request) -> Response:
        path = servable(files_root, request.path_params["path"])
        if path is None:
            raise HTTPException(404 if files_root is not None else 403,
                                "not a file of this dashboard's output directory")
        return FileResponse(path, media_type=media_type(path), headers=SECURITY_HEADERS)

    def unavailable(request: Request, error: Exception) -> Response:
        return page(request, "error.html", status_code=503, title="Index unavailable", message=str(error))

    def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return page(request, "error.html", status_code=error.status_code, title=f"{error.status_code}",
                    message=error.detail)

    routes = [
        Route("/", lambda request: RedirectResponse("/problems")),
        Route("/problems", problems),
        Route("/problems/{problem_id:int}", problem),
        Route("/reports/{report_id:int}", report),
        Route("/boards", boards),
        Route("/files/{path:path}", files),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={Unavailable: unavailable, HTTPException: http_error})


def _page_number(text: str | None) -> int:
    try:
        return max(0, int(text or 0))
    except ValueError:
        return 0


def _served_text(root: Path | None, report_dir: str | None, name: str) -> str | None:
    relative = link_path(root, report_dir, name)
    path = servable(root, relative) if relative else None
    return path.read_text(errors="replace") if path is not None else None
