"""`oopswatch serve` in a real headless browser (Debian's chromium through chromium-driver):
an output directory made by a real rack from real console bytes on ptys, plus reports
recorded through the index API; pages load, filters work, a report shows its decoded
frames, a title with markup in it is text, and `..` never leaves the output directory.

Each page's screenshot is saved under test-output/dashboard/ (not committed) for a
reviewer to look at."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from oopswatch.sinks.index import INDEX_NAME, ReportIndex
from tests.browser import chromium
from tests.postgres import free_port, postgres_server
from tests.ptys import Pty, oopswatch_command, wait_for
from tests.test_rack import RackProcess

REPO = Path(__file__).resolve().parent.parent
LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"
SYSTEM_MAP = REPO / "examples" / "qemu-x86_64-nokallsyms.System.map"
SCREENSHOTS = Path(os.environ.get("OOPSWATCH_TEST_OUTPUT", REPO / "test-output")) / "dashboard"
NULL = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
SCRIPT = "BUG: <script>alert('x')</script> & <b>bold</b> in evil_fn"
WARNING = "WARNING in lkdtm_WARNING"
OOM = "oom-kill: constraint=CONSTRAINT_NONE task=sh"

pytestmark = pytest.mark.slow


def make_output(directory: Path) -> Path:
    """Two boards of a real rack oops on ptys; then three reports of other boards, hours
    and days old, recorded through the index as a rack would."""
    output = directory / "out"
    with Pty() as first, Pty() as second:
        rack_yaml = directory / "rack.yaml"
        rack_yaml.write_text("\n".join([f"output: {output}", "host: rack-a", "boards:"] + [
            line for name, pty in (("x86-01", first), ("x86-02", second))
            for line in (f"  - name: {name}", f"    port: {pty.path}", f"    system_map: {SYSTEM_MAP}")]) + "\n")
        rack = RackProcess(rack_yaml, directory / "rack-run")
        try:
            rack.wait_watching(2)
            first.write(LOG.read_bytes())
            second.write(LOG.read_bytes())
            wait_for(lambda: len(list(output.glob("*/*/report-*/report.json"))) == 2, 30, what="two reports")
            assert rack.stop() == 0
        finally:
            rack.kill()
    now = time.time()
    with ReportIndex(output / INDEX_NAME, host="rack-b") as index:
        for board, boot, age, kind, title, crash in (("arm-7", "b1", 3 * 86400, "warning", WARNING, True),
                                                     ("arm-7", "b2", 600, "bug", SCRIPT, True),
                                                     ("x86-02", "b3", 5 * 86400, "oom", OOM, False)):
            index.record(board=board, build="v6.1-arm" if board == "arm-7" else None, boot=boot, time=now - age,
                         kind=kind, title=title, crash=crash, corrupted=False)
    (output / "x86-01" / "escape.log").symlink_to("/etc/passwd")  # a link that leads out
    return output


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    """`oopswatch serve` on a free port; its base URL."""
    port = free_port()
    process = subprocess.Popen(oopswatch_command("serve", "--bind", f"127.0.0.1:{port}", *args),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.stderr.read()}")
            with contextlib.suppress(OSError):
                return urllib.request.urlopen(base + "/problems", timeout=2).status == 200
            return False
        wait_for(up, 30, interval=0.1, what="the dashboard")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The dashboard's base URL."""
    output = make_output(tmp_path_factory.mktemp("dashboard"))
    with serving("--output", str(output)) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="oopswatch-chromium-"))
    driver = chromium(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(browser: WebDriver, name: str) -> None:
    """The whole page, as tall as it is."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, max(900, min(int(height) + 40, 6000)))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    browser.set_window_size(1400, 1000)


def follow(browser: WebDriver, element) -> None:
    """Click a link or button and wait until the next page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 10).until(staleness_of(page))


def titles(browser: WebDriver) -> list[str]:
    cells = browser.find_elements(By.CSS_SELECTOR, "table.problems td.title")
    return [cell.text.removesuffix(" new") for cell in cells]


def test_problems_newest_first_with_counts_badges_and_no_script(site, browser):
    base = site
    browser.get(base + "/")
    assert browser.current_url == base + "/problems"
    assert titles(browser) == [NULL, SCRIPT, WARNING, OOM]
    rows = browser.find_elements(By.CSS_SELECTOR, "table.problems tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [(row[2], row[3], row[4]) for row in cells] == [("null-deref", "2", "x86-01, x86-02"),
                                                           ("bug", "1", "arm-7"), ("warning", "1", "arm-7"),
                                                           ("oom", "1", "x86-02")]
    new = [row.find_element(By.CSS_SELECTOR, "td.title a").text for row in rows
           if row.find_elements(By.CSS_SELECTOR, ".badge.new")]
    assert new == [NULL, SCRIPT]  # first seen in the last day
    assert browser.find_element(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]').get_attribute("content") == "30"
    assert browser.find_elements(By.TAG_NAME, "script") == []
    shot(browser, "problems")


def test_filters(site, browser):
    base = site
    browser.get(base + "/problems")
    Select(browser.find_element(By.ID, "board")).select_by_visible_text("arm-7")
    follow(browser, browser.find_element(By.ID, "apply"))
    assert titles(browser) == [SCRIPT, WARNING]
    Select(browser.find_element(By.ID, "kind")).select_by_visible_text("warning")
    follow(browser, browser.find_element(By.ID, "apply"))
    assert titles(browser) == [WARNING]
    assert Select(browser.find_element(By.ID, "board")).first_selected_option.text == "arm-7"  # the form remembers
    shot(browser, "problems-board-and-kind")
    browser.get(base + "/problems")
    browser.find_element(By.ID, "since").send_keys("1d")
    follow(browser, browser.find_element(By.ID, "apply"))
    assert titles(browser) == [NULL, SCRIPT]
    browser.get(base + "/problems?since=yesterday")
    assert browser.find_element(By.CSS_SELECTOR, "p.error").text.startswith("since 'yesterday': not a date")
    browser.get(base + "/problems?board=nowhere")
    assert browser.find_element(By.CSS_SELECTOR, "p.empty").text == "No problems match these filters."


def test_a_problem_and_its_report_with_decoded_frames(site, browser):
    base = site
    browser.get(base + "/problems")
    follow(browser, browser.find_element(By.LINK_TEXT, NULL))
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == f"{NULL} new"
    places = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:4]
              for row in browser.find_elements(By.CSS_SELECTOR, "table.places tbody tr")]
    assert sorted(places) == [["rack-a", "x86-01", str(SYSTEM_MAP), "1"], ["rack-a", "x86-02", str(SYSTEM_MAP), "1"]]
    shot(browser, "problem")
    follow(browser, browser.find_elements(By.LINK_TEXT, "report")[0])
    text = browser.find_element(By.ID, "report-text").text
    # The console printed bare addresses (no KALLSYMS); the page shows them decoded (a map
    # alone cannot be verified against bare addresses: each name is marked as a guess).
    assert "RIP: 0010:0xffffffff81144c60 (guessed: lkdtm_EXCEPTION+0x2/0xa)" in text
    assert " 0xffffffff810ea3f2 (guessed: full_proxy_write+0x3e/0x59)" in text
    assert "RIP: 0010:0xffffffff81144c60" in browser.find_element(By.ID, "excerpt").text  # the raw console
    assert browser.find_element(By.ID, "report-text").value_of_css_property("font-family").startswith("ui-monospace")
    shot(browser, "report")
    links = {link.text: link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, ".files a")}
    assert sorted(links) == ["console.log", "report.json", "report.txt"]
    with urllib.request.urlopen(links["report.json"]) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.read())["title"] == NULL
    with urllib.request.urlopen(links["console.log"]) as response:
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.read() == LOG.read_bytes()


def test_a_title_with_markup_is_shown_as_text(site, browser):
    base = site
    browser.get(base + "/problems")
    link = browser.find_element(By.LINK_TEXT, SCRIPT)
    assert link.find_elements(By.XPATH, ".//*") == []  # no <b> or <script> element made from it
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in browser.page_source
    follow(browser, link)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == f"{SCRIPT} new"
    assert browser.find_elements(By.TAG_NAME, "script") == [] and browser.find_elements(By.TAG_NAME, "b") == []
    shot(browser, "problem-with-markup")
    follow(browser, browser.find_element(By.LINK_TEXT, "report"))
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == SCRIPT
    assert "(on rack-b; not served here)" in browser.find_element(By.CSS_SELECTOR, ".files").text


def test_boards(site, browser):
    base = site
    browser.get(base + "/boards")
    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, "table.boards tbody tr")]
    assert [(row[0], row[1], row[2], row[6]) for row in rows] == [("x86-01", "rack-a", "stopped", "1"),
                                                                  ("x86-02", "rack-a", "stopped", "1")]
    assert all(row[5].endswith("-boot1") for row in rows)
    shot(browser, "boards")


@pytest.mark.parametrize("path", ["/files/../reports.sqlite", "/files/x86-01/../../../../etc/passwd",
                                  "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/files//etc/passwd",
                                  "/files/x86-01/escape.log", "/files/x86-01%2f..%2f..%2fetc%2fpasswd"])
def test_paths_out_of_the_output_directory_are_refused(site, path):
    base = site
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    connection.request("GET", path)  # sent as written: no client tidies the '..' away
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 404
    assert b"root:" not in body and b"SQLite format" not in body


def test_an_error_page_in_the_browser_for_dot_dot(site, browser):
    base = site
    browser.get(base + "/files/x86-01%2f..%2f..%2f..%2fetc%2fpasswd")  # a browser keeps encoded slashes
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "404"
    assert browser.find_element(By.CSS_SELECTOR, "p.error").text == "not a file of this dashboard's output directory"
    shot(browser, "refused")


def test_a_dashboard_of_a_postgresql_index(tmp_path):
    with postgres_server() as server:
        url = server.create_database()
        with ReportIndex(url, host="rack-c", spool=tmp_path / "spool.sqlite") as index:
            index.record(board="bbb-1", build="v6.6", boot="b1", time=time.time() - 60, kind="warning", title=WARNING,
                         crash=True, corrupted=False)
            assert index.wait_sent(30)
        with serving("--index", url) as base:
            page = urllib.request.urlopen(base + "/problems").read().decode()
            problem = urllib.request.urlopen(base + "/problems/1").read().decode()
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + "/files/etc/passwd")
    assert WARNING in page and "bbb-1" in page
    assert "rack-c" in problem and "v6.6" in problem
    assert refused.value.code == 403  # no output directory: no files at all


def test_serve_errors_are_one_line(tmp_path):
    missing = subprocess.run(oopswatch_command("serve", "--output", str(tmp_path)), capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [f"oopswatch: {tmp_path / INDEX_NAME}: no report index here; give --output "
                                           "an oopswatch output directory, or --index the index file or a "
                                           "postgresql:// URL"]
    ReportIndex(tmp_path / INDEX_NAME).close()
    bad = subprocess.run(oopswatch_command("serve", "--output", str(tmp_path), "--bind", "localhost"),
                         capture_output=True, text=True, timeout=30)
    assert (bad.returncode, bad.stderr.splitlines()) == (
        2, ["oopswatch: --bind 'localhost': give HOST:PORT, such as 127.0.0.1:8080 or [::1]:8080"])
