"""The case report page in a real browser (Debian's headless chromium): a report made by the CLI from the
captured logs shows what ``review`` and ``alarms`` say, its tree expands, searches and opens an event's
fields, hostile arguments stay text, and the page asks the network for nothing."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from exectrail.interference import kinds
from exectrail.output.html import render_html
from tests.support import logedit as ed
from tests.support.browser import Browser
from tests.support.casedata import column, read_case
from tests.support.paths import DATA, REPO
from tests.support.report_page import (
    CONTROLS,
    IMG,
    SCRIPT,
    alarmed,
    hostile_log,
    make_report,
    reviewed,
)

LOGS = [DATA / "workload_enriched.log", DATA / "interleaved_concurrent.log"]
PLAIN_ARG = re.compile(r"^[\w./=,:+-]+$")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_report(tmp_path_factory.mktemp("report") / "case.html", LOGS)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return reviewed(LOGS)


@pytest.fixture
def page(browser: Browser, report: Path) -> Browser:
    browser.open(report)
    return browser


def count(page: Browser, name: str) -> int:
    """A summary count as the page shows it (its text, thousands separators dropped)."""
    shown = page.testid(name).text.replace(",", "")
    assert shown == page.testid(name).get_attribute("data-value"), name
    return int(shown)


def row(page: Browser, event: int) -> Any:
    return page.one(f'[data-testid="tree-row"][data-event="{event}"]')


def rows_after(page: Browser, event: int) -> list[int]:
    """data-event of the rows drawn below ``event``'s row, up to the next row at its depth or above."""
    below = page.js(
        """const rows = [...document.querySelectorAll('[data-testid="tree-row"]')];
        const at = rows.findIndex((r) => r.dataset.event === String(arguments[0]));
        const indent = (r) => Number(r.dataset.depth);
        const out = [];
        for (const r of rows.slice(at + 1)) {
          if (indent(r) <= indent(rows[at])) break;
          out.push(r.dataset.event);
        }
        return out;""",
        event,
    )
    return [int(x) for x in below]


def search(page: Browser, text: str) -> int:
    """Type ``text`` into the search box; the match count once the page has answered."""
    before = page.testid("tree-matches").get_attribute("data-value")
    page.type_into(page.testid("tree-search"), text)
    page.wait(lambda: page.testid("tree-matches").get_attribute("data-value") != before, 5, "the search")
    return int(page.testid("tree-matches").get_attribute("data-value"))


def detail_values(page: Browser) -> dict[str, Any]:
    """data-field -> the detail-value element, in page order."""
    fields = page.all('[data-testid="detail"] [data-testid="detail-field"]')
    return {f.get_attribute("data-field"): f.find_element("css selector", '[data-testid="detail-value"]')
            for f in fields}  # fmt: skip


def shown_ms(text: str) -> int:
    """The page's '2026-11-25 14:50:46.518' (UTC) in ms since the epoch."""
    return round(datetime.fromisoformat(text.replace(" ", "T") + "+00:00").timestamp() * 1000)


def shown_time(text: str) -> str:
    """The page's '2026-11-25 14:50:46.518 UTC' as review's '2026-11-25T14:50:46.518Z'."""
    return text.removesuffix(" UTC").replace(" ", "T") + "Z"


def test_summary_counts_are_what_review_and_alarms_say(
    page: Browser, report: Path, events: list[dict[str, Any]]
) -> None:
    assert count(page, "count-events") == len(events) == count(page, "count-included")
    assert count(page, "count-failed") == sum(1 for e in events if not e["success"]) > 0
    alarms = alarmed(LOGS)
    assert count(page, "count-alarms") == len(alarms) == len(page.testids("alarm")) > 0
    assert int(page.testid("tree-matches").get_attribute("data-value")) == len(events)
    made = read_case(report)["made"]
    assert page.testid("made").text == f"Made {made['at']} by {made['by']}: {made['command']}"
    assert "not made from a store" in page.testid("chain-head").text
    assert page.testids("cut-notice") == []
    page.screenshot("summary")


def test_a_cut_report_says_so(browser: Browser, tmp_path: Path, events: list[dict[str, Any]]) -> None:
    browser.open(make_report(tmp_path / "cut.html", LOGS, "--max-events", "100"))
    assert count(browser, "count-included") == 100
    assert count(browser, "count-events") == len(events)
    assert "100" in browser.testid("cut-notice").text


def test_expand_and_collapse_a_node(page: Browser, report: Path) -> None:
    data = read_case(report)
    parent, ppid = column(data, data["parent"]), column(data, data["columns"]["ppid"])
    page.click(page.testid("collapse-all"))
    groups = page.testids("tree-row")
    assert groups and {g.get_attribute("data-event") for g in groups} == {"-1"}
    assert {g.get_attribute("data-expanded") for g in groups} == {"false"}
    # the first group: the events without a recorded parent whose ppid is the first such event's
    roots = [i for i, p in enumerate(parent) if p == -1]
    first_group = [i for i in roots if ppid[i] == ppid[roots[0]]]
    page.click(page.testids("tree-toggle")[0])
    assert page.testids("tree-row")[0].get_attribute("data-expanded") == "true"
    shown = [int(r.get_attribute("data-event")) for r in page.testids("tree-row")[1:]]
    assert shown[: len(first_group)] == first_group[: len(shown)]
    # an event with children of its own: closed, then open, then closed again
    node = next(i for i in first_group if i in parent)
    children = [i for i, p in enumerate(parent) if p == node]
    assert row(page, node).get_attribute("data-expanded") == "false"
    assert rows_after(page, node) == []
    page.click(row(page, node).find_element("css selector", '[data-testid="tree-toggle"]'))
    assert row(page, node).get_attribute("data-expanded") == "true"
    assert rows_after(page, node)[: len(children)] == children[: len(rows_after(page, node))]
    assert rows_after(page, node), "its children appear"
    page.click(row(page, node).find_element("css selector", '[data-testid="tree-toggle"]'))
    assert row(page, node).get_attribute("data-expanded") == "false"
    assert rows_after(page, node) == []
    page.click(page.testid("expand-all"))
    assert page.all('[data-testid="tree-row"][data-expanded="false"]') == []
    page.screenshot("tree-expanded")


def test_search_finds_a_command_line(page: Browser, events: list[dict[str, Any]]) -> None:
    lines = [" ".join(e["argv"]) for e in events if e["argv"]]
    query = next(
        line for e, line in zip((e for e in events if e["argv"]), lines, strict=True)
        if len(e["argv"]) >= 3 and all(PLAIN_ARG.match(a) for a in e["argv"]) and lines.count(line) == 1
    )  # fmt: skip
    assert search(page, query.upper()) == sum(1 for line in lines if query in line) == 1
    matching = page.all('[data-testid="tree-row"].match')
    assert [m.get_attribute("textContent") for m in matching if query in m.get_attribute("textContent")]
    assert search(page, "no event holds " + secrets.token_hex(8)) == 0
    assert page.testids("tree-row") == []


def test_a_row_opens_every_field(page: Browser, events: list[dict[str, Any]]) -> None:
    target = next(e for e in events if e["success"] and e["argv"] and len(e["argv"]) > 2)
    page.type_into(page.testid("tree-search"), " ".join(target["argv"]))
    page.wait(lambda: page.all('[data-testid="tree-row"].match'), 5, "a match")
    page.click(page.all('[data-testid="tree-row"].match')[0])
    values = page.wait(lambda: detail_values(page), 5, "the detail panel")
    assert list(values) == [k for k in events[0] if k != "type" and not k.endswith("_hex")]
    serial, time = int(values["serial"].text), shown_time(values["time"].text)
    event = next(e for e in events if e["serial"] == serial and e["time"] == time)
    assert event["argv"] == target["argv"]
    assert values["pid"].text == str(event["pid"])
    assert values["exe"].get_attribute("textContent") == event["exe"]
    args = values["argv"].find_elements("css selector", "li")
    assert [a.get_attribute("textContent") for a in args] == event["argv"]
    assert values["auid"].get_attribute("textContent") == (
        "null" if event["auid"] is None else str(event["auid"])
    )
    page.screenshot("detail")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("hostile")
    serial = hostile_log(DATA / "workload_enriched.log", folder / "audit.log", b' a0="gcc"')
    return make_report(folder / "hostile.html", [folder / "audit.log"]), serial


def test_hostile_arguments_are_shown_never_run(browser: Browser, hostile: tuple[Path, int]) -> None:
    report, serial = hostile
    browser.open(report)
    title = browser.js("return document.title")
    assert search(browser, "pwned") == 1
    shown = browser.all('[data-testid="tree-row"].match')[0]
    text = shown.get_attribute("textContent")
    assert "<img src=x onerror=" in text and SCRIPT in text
    browser.click(shown)
    values = browser.wait(lambda: detail_values(browser), 5, "the detail panel")
    assert values["serial"].text == str(serial)
    args = [a.get_attribute("textContent") for a in values["argv"].find_elements("css selector", "li")]
    assert args[1:3] == [IMG, SCRIPT]
    assert browser.all("img") == [] and browser.all("#app script") == []
    assert browser.js("return document.title") == title and "pwned" not in title
    assert browser.console_errors() == []


def test_a_non_utf8_argument_shows_its_bytes(browser: Browser, hostile: tuple[Path, int]) -> None:
    report, _ = hostile
    browser.open(report)
    search(browser, "pwned")
    shown = browser.all('[data-testid="tree-row"].match')[0]
    assert "\\xff\\xfe" in shown.get_attribute("textContent")
    assert shown.find_elements("css selector", ".bad-utf8")
    browser.click(shown)
    argv = browser.wait(lambda: detail_values(browser), 5, "the detail panel")["argv"]
    third = argv.find_elements("css selector", "li")[3]
    assert third.get_attribute("textContent").startswith("\\xff\\xfe")
    assert third.find_element("css selector", ".bad-utf8").text == "not UTF-8"
    assert third.find_element("css selector", ".hex code").text == "fffe"


def test_control_characters_are_made_visible(browser: Browser, hostile: tuple[Path, int]) -> None:
    browser.open(hostile[0])
    search(browser, "pwned")
    shown = browser.all('[data-testid="tree-row"].match')[0]
    escapes = [c.get_attribute("textContent") for c in shown.find_elements("css selector", ".argv .ctl")]
    assert escapes == ["\\n", "\\x1b", "\\u{202e}"]
    assert "\n" not in shown.get_attribute("textContent") and "\u202e" not in shown.get_attribute(
        "textContent"
    )
    browser.click(shown)
    argv = browser.wait(lambda: detail_values(browser), 5, "the detail panel")["argv"]
    fifth = argv.find_elements("css selector", "li")[4].get_attribute("textContent")
    assert fifth == CONTROLS.replace("\n", "\\n").replace("\x1b", "\\x1b").replace("\u202e", "\\u{202e}")


def test_a_case_of_another_version_is_refused(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "future.html"
    page.write_text(render_html({"version": 2, "summary": {}}, "future"), encoding="utf-8")
    browser.drain()
    browser.driver.get(page.as_uri())
    assert browser.wait(lambda: browser.js("return document.body.dataset.ready"), 5, "data-ready") == "error"
    assert "version 2" in browser.text("#app")


def test_the_page_makes_no_request(browser: Browser, report: Path) -> None:
    browser.open(report)
    browser.click(browser.testid("expand-all"))
    browser.click(browser.testids("tree-row")[1])
    assert browser.requests() == [report.resolve().as_uri()]
    assert browser.console_errors() == []


def test_the_timeline_is_drawn(page: Browser) -> None:
    drawn = page.js(
        """const c = arguments[0], g = c.getContext('2d');
        const px = g.getImageData(0, 0, c.width, c.height).data;
        let painted = 0, red = 0;
        for (let k = 0; k < px.length; k += 4) {
          if (px[k + 3] > 0) painted++;
          if (px[k + 3] > 200 && px[k] > 150 && px[k + 1] < 80 && px[k + 2] < 80) red++;
        }
        return {painted, red, width: c.width, css: c.clientWidth, ratio: devicePixelRatio,
                blank: c.toDataURL() === document.createElement('canvas').toDataURL()};""",
        page.testid("timeline"),
    )
    assert drawn["width"] == round(drawn["css"] * drawn["ratio"]) > 0
    assert not drawn["blank"] and drawn["painted"] > 1000
    assert drawn["red"] > 0, "failed execs and alarms are drawn in red"


def test_an_alarm_leads_to_the_events_around_it(browser: Browser, tmp_path: Path) -> None:
    lines = ed.read_lines(DATA / "workload_enriched.log")
    log = ed.write(tmp_path / "audit.log", ed.drop_event(lines, ed.exec_serials(lines)[40]))
    report = make_report(tmp_path / "edited.html", [log])
    browser.open(report)
    expected = sorted(a["kind"] for a in alarmed([log]))
    cards = browser.testids("alarm")
    assert sorted(c.get_attribute("data-kind") for c in cards) == expected
    assert kinds.EVENTS_MISSING in expected
    card = next(c for c in cards if c.get_attribute("data-kind") == kinds.EVENTS_MISSING)
    assert "type=" in card.find_element("css selector", "pre").text  # its evidence lines
    browser.click(browser.testid("collapse-all"))  # the event must be uncovered and scrolled to
    browser.click(card.find_element("css selector", '[data-testid="alarm-events"]'))
    selected = browser.wait(lambda: browser.all('[data-testid="tree-row"].selected'), 5, "a selected row")[0]
    event = int(selected.get_attribute("data-event"))
    assert browser.testid("detail").get_attribute("data-event") == str(event)
    inside = browser.js(
        """const r = arguments[0].getBoundingClientRect(), t = arguments[1].getBoundingClientRect();
        return r.top >= t.top && r.bottom <= t.bottom && t.top >= 0 && t.top < innerHeight;""",
        selected, browser.testid("tree"),
    )  # fmt: skip
    assert inside, "the selected row is scrolled into view"
    data = read_case(report)
    alarm_time = next(a["time"] for a in data["alarms"] if a["kind"] == kinds.EVENTS_MISSING)
    times = column(data, data["columns"]["time"])
    assert abs(times[event] - alarm_time) == min(abs(t - alarm_time) for t in times)


def test_whole_page_screenshot(page: Browser) -> None:
    path = page.full_page_screenshot("report")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_readme_screenshot_is_a_small_png() -> None:
    png = REPO / "docs" / "img" / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 300_000


def test_a_timeline_bar_filters_the_tree_to_its_time(page: Browser, report: Path) -> None:
    canvas = page.testid("timeline")
    # the tallest bar: scan the canvas row just above the axis for the column with the most bar pixels
    x = page.js(
        """const c = arguments[0], g = c.getContext('2d'), r = devicePixelRatio;
        const px = g.getImageData(0, 0, c.width, c.height).data;
        let best = -1, most = 0;
        for (let x = 0; x < c.width; x++) {
          let n = 0;
          for (let y = 0; y < c.height - 24 * r; y++) {
            const k = (y * c.width + x) * 4;
            if (px[k + 3] > 200 && px[k + 2] > 120 && px[k] < 120) n++;  // the executions' blue
          }
          if (n > most) { most = n; best = x; }
        }
        return best / r;""",
        canvas,
    )
    assert x > 0
    page.js("arguments[0].scrollIntoView({block: 'center'})", canvas)
    width = canvas.size["width"]
    page.click_at(canvas, int(x - width / 2), 0)
    page.wait(lambda: page.testid("filter-from").get_attribute("value"), 5, "the time range")
    low, high = (shown_ms(page.testid(name).get_attribute("value")) for name in ("filter-from", "filter-to"))
    assert 0 < high - low < 86_400_000
    data = read_case(report)
    inside = sum(1 for t in column(data, data["columns"]["time"]) if low <= t <= high)
    assert int(page.testid("tree-matches").get_attribute("data-value")) == inside > 0


def test_the_user_filter(page: Browser, events: list[dict[str, Any]]) -> None:
    select = page.testid("filter-user")
    users = [o.get_attribute("value") for o in select.find_elements("css selector", "option")][1:]
    names = {e[k] for e in events for k in ("uid_name", "euid_name", "auid_name") if e[k] is not None}
    assert sorted(users) == sorted(names)
    user = users[0]
    select.find_element("css selector", f'option[value="{user}"]').click()
    page.wait(lambda: "match" in page.text(".matches"), 5, "the filter")
    expected = sum(1 for e in events if user in (e["uid_name"], e["euid_name"], e["auid_name"]))
    assert int(page.testid("tree-matches").get_attribute("data-value")) == expected


def test_the_page_source_builds_no_markup_from_text() -> None:
    """The page sets data as text only, and the template holds no inline style or handler attribute."""
    data = files("exectrail").joinpath("data")
    script = data.joinpath("report.js").read_text(encoding="utf-8")
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert banned not in script, banned
    template = data.joinpath("report.html").read_text(encoding="utf-8")
    assert not re.search(r"<[^>]*\s(style|on\w+)\s*=", template, re.I)


def test_host_names_are_shown(browser: Browser, tmp_path: Path) -> None:
    log = DATA / "workload_raw_node.log.gz"  # its events carry node=
    hosts = sorted({e["node"] for e in reviewed([log])} - {None})
    assert hosts
    browser.open(make_report(tmp_path / "node.html", [log]))
    assert ", ".join(hosts) in browser.text("#summary")
    groups = browser.all('[data-testid="tree-row"][data-event="-1"]')
    assert groups and all(g.find_element("css selector", ".host").text in hosts for g in groups)
    for card in browser.testids("alarm"):
        assert card.find_element("css selector", ".host").text in {f"host {h}" for h in hosts}
