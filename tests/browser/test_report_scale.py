"""A 100,000-event case report (real captured events, repeated with new serials) made by the CLI opens
in the browser within 10 s, stays under 30 MB, keeps only the rows in view in the DOM and searches fast."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tests.support.biglog import source_lines, write_big_log
from tests.support.browser import Browser
from tests.support.paths import DATA
from tests.support.report_page import make_report, reviewed

EVENTS = 100_000
SOURCE = ("interleaved_concurrent.log",)  # about 6 lines per event: the shortest way to 100k
OPEN_S = 10.0
MAX_BYTES = 30_000_000

SEARCH_JS = """const box = document.querySelector('[data-testid="tree-search"]');
const started = performance.now();
box.value = arguments[0];
box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
return performance.now() - started;"""


def test_a_100k_event_report_opens_within_10_s(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    per_copy = len(source_lines(SOURCE))
    events_per_copy = len(reviewed([DATA / name for name in SOURCE]))
    min_lines = math.ceil(EVENTS / events_per_copy) * per_copy
    lines = write_big_log(tmp_path / "audit.log", min_lines, SOURCE, spread_s=60)  # a run a minute
    expected = lines // per_copy * events_per_copy
    started = time.monotonic()
    report = make_report(tmp_path / "big.html", [tmp_path / "audit.log"])
    made_s = time.monotonic() - started
    (tmp_path / "audit.log").unlink()
    size = report.stat().st_size
    assert size < MAX_BYTES

    started = time.monotonic()
    render_ms = browser.open(report, timeout=OPEN_S)
    open_s = time.monotonic() - started
    assert open_s < OPEN_S
    assert browser.testid("count-included").get_attribute("data-value") == str(expected)
    assert browser.testid("tree-matches").get_attribute("data-value") == str(expected)

    browser.click(browser.testid("expand-all"))
    tree = browser.testid("tree")
    total_rows = int(browser.js("return arguments[0].scrollHeight", tree)) // 24
    assert total_rows > expected  # every event is a row (and the "not recorded" parents)
    browser.js("arguments[0].scrollTop = arguments[0].scrollHeight", tree)
    last_row = """const rows = document.querySelectorAll('[data-testid="tree-row"]');
        return rows.length && Number(rows[rows.length - 1].dataset.row) === arguments[0];"""
    browser.wait(lambda: browser.js(last_row, total_rows - 1), 5, "the last row drawn")
    assert len(browser.testids("tree-row")) < 100  # only the rows in view are in the DOM

    search_ms = browser.js(SEARCH_JS, "/usr/bin/true")
    matches = int(browser.testid("tree-matches").get_attribute("data-value"))
    assert 0 < matches < expected
    assert search_ms < 1000
    assert browser.console_errors() == []
    with capsys.disabled():
        print(
            f"\n100k report: {expected} events, {size / 1e6:.1f} MB, made in {made_s:.1f} s; "
            f"opened in {open_s:.2f} s (page render {render_ms:.0f} ms); search {search_ms:.0f} ms"
        )
