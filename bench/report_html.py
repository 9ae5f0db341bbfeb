"""Benchmark the HTML case report at scale: writing it, and opening it in a real browser.

    python bench/report_html.py [--events 100000] [--repeat 3] [--work /var/tmp/exectrail-bench-html]
                                [--search WORD,...] [--json OUT]

The log: the captured logs in tests/data (interleaved_concurrent.log, workload_enriched.log: real auditd
output, see tests/data/README.md) copied until it holds at least ``--events`` exec events, as
tests/support/biglog.py does, with two changes that make it read as one long-running host:

* copy ``c`` also adds ``c * ROUND_SPAN`` seconds to every timestamp (bench/store.py's rounds), so the
  copies follow each other in time instead of all landing in the same second (pids repeat from copy to
  copy, as reused pids do);
* the capture harness's own control events (auditd start and stop, the rules added and deleted: every
  line of an event holding a CONFIG_CHANGE or DAEMON_* record) are left out, and the serials of copy
  ``c`` move on by ``c`` times the span of the captured serials, so they continue from copy to copy.
  Kept, each copy would add a stopped collector, removed rules and a minute of blind spot, and a
  biglog-style serial jump of 10,000,000 would read as billions of missing events.
  ``--as-captured`` keeps every line and biglog's serial shift (the stress case of many alarms).

Measured in one run, the median of ``--repeat`` (every CLI step a new process; its wall time, and its
peak RSS from GNU time when installed, else from ``wait4``):

* ``exectrail report --html OUT LOG`` and the file's size;
* ``exectrail import --db DB LOG`` once, then ``exectrail report --html OUT --db DB``;
* OUT opened in headless Debian chromium through Selenium (``/usr/bin/chromedriver``, never Selenium
  Manager; a new browser each time): ``driver.get`` until ``body[data-ready="true"]``, the page's own
  ``data-render-ms``, the JS heap (``performance.memory.usedJSHeapSize``), the tree rows in the DOM;
  then ``expand-all``; the tree scrolled to the bottom and back in steps (each step: set scrollTop, wait
  two animation frames, the one the scroll handler drew and the next: so two frames, ~33 ms at 60 Hz,
  is the floor, measured too); each ``--search`` word typed into ``tree-search`` (page time from the
  first key to the last change of ``tree-matches``; by default a rare word, 5 events a copy, and a
  common one, half the events; the page builds its search index on the first search, so the first
  word's time includes that);
* anchors on the same log: ``aureport -x --summary -if LOG`` and ``ausearch -m EXECVE -i -if LOG``
  (what a responder runs instead to see what ran).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from exectrail.model import Diagnostics  # noqa: E402
from exectrail.pipeline import read_exec_events  # noqa: E402

DATA = ROOT / "tests" / "data"  # read as files, never imported
SOURCES = ("interleaved_concurrent.log", "workload_enriched.log")
SERIAL_SHIFT = 10_000_000
ROUND_SPAN = 60  # seconds between copies (one copy of the captures spans ~3 s)
_HEADER = re.compile(rb"(msg=audit\()(\d+)(\.\d+:)(\d+)\)")
_CONTROL = (b"type=CONFIG_CHANGE ", b"type=DAEMON_")
CHROMIUM = "/usr/bin/chromium"
GNU_TIME = "/usr/bin/time"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: chromium's flags (as root, in a container, on a minimal Debian 12; tests/support/browser.py has its own
#: set with a fresh profile, the network log and a pipe to the driver)
BROWSER_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,900",
    "--enable-precise-memory-info",
)
READY_TIMEOUT = 120.0
QUIET_MS = 500  # tree-matches unchanged this long: the search is done
WORK = Path("/var/tmp/exectrail-bench-html")


@dataclass
class Run:
    """One process: wall seconds and peak resident set (MiB)."""

    seconds: float
    peak_mib: float


def serial_of(line: bytes) -> int | None:
    # only the header of each line: an argv may hold a lookalike "msg=audit(...)" (field_lookalikes)
    m = _HEADER.search(line)
    return int(m.group(4)) if m else None


def without_control_events(lines: list[bytes]) -> list[bytes]:
    """``lines`` without the events that hold a CONFIG_CHANGE or DAEMON_* record (all their lines)."""
    control = {serial_of(line) for line in lines if line.startswith(_CONTROL)} - {None}
    return [line for line in lines if serial_of(line) not in control]


def serial_span(lines: list[bytes]) -> int:
    serials = [s for s in map(serial_of, lines) if s is not None]
    return max(serials) - min(serials) + 1


def copy_lines(lines: list[bytes], copy: int, serial_step: int) -> bytes:
    """``lines`` with every record header moved ``copy`` rounds on (time and serial)."""

    def header(m: re.Match[bytes]) -> bytes:
        sec, serial = int(m.group(2)) + copy * ROUND_SPAN, int(m.group(4)) + copy * serial_step
        return b"%s%d%s%d)" % (m.group(1), sec, m.group(3), serial)

    return b"".join(_HEADER.sub(header, line, count=1) for line in lines)


def count_events(path: Path) -> int:
    return sum(1 for _ in read_exec_events([path], Diagnostics()))


def build_log(work: Path, events: int, as_captured: bool) -> tuple[Path, int]:
    """The log of at least ``events`` exec events in ``work`` (reused when already there)."""
    lines = b"".join((DATA / name).read_bytes() for name in SOURCES).splitlines(keepends=True)
    if not as_captured:
        lines = without_control_events(lines)
    serial_step = SERIAL_SHIFT if as_captured else serial_span(lines)
    one = work / "one-copy.log"
    one.write_bytes(b"".join(lines))
    per_copy = count_events(one)
    copies = max(1, math.ceil(events / per_copy))
    log = work / f"bench-{copies}x-{'as-captured' if as_captured else 'continuous'}.log"
    if not log.exists():
        partial = log.with_suffix(".partial")
        with partial.open("wb") as out:
            for copy in range(copies):
                out.write(copy_lines(lines, copy, serial_step))
        partial.rename(log)
    return log, copies * per_copy


def cli() -> list[str]:
    """This tree's exectrail, run by this interpreter (not whatever ``exectrail`` is on PATH)."""
    return [sys.executable, "-m", "exectrail.cli.main"]


def run_process(args: Sequence[str]) -> Run:
    """Run ``args`` to the end, output to /dev/null (raise on failure); its wall time and peak RSS.

    The peak RSS comes from GNU time when it is installed: a child's ``ru_maxrss`` starts from its
    parent's at fork, and this process holds a whole page's data after page_counts."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *args] if Path(GNU_TIME).exists() else list(args)
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            tail = err.decode(errors="replace")[-1500:]
            raise SystemExit(f"bench: {' '.join(args)} exited {code}: {tail}")
        kib = int(rss.read().split()[-1]) if wrapped[0] == GNU_TIME else usage.ru_maxrss
    return Run(seconds, kib / 1024)


def median_run(runs: list[Run]) -> dict[str, float]:
    return {
        "seconds": statistics.median(r.seconds for r in runs),
        "peak_mib": statistics.median(r.peak_mib for r in runs),
    }


def median_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Key by key, the median of the numbers (the first value of anything else)."""
    out: dict[str, Any] = {}
    for key, first in samples[0].items():
        values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        out[key] = statistics.median(values) if values and not isinstance(first, bool) else first
    return out


# ---- the browser ------------------------------------------------------------------------------------

_WAIT_FRAMES = "function frames(n){return new Promise(r=>{const f=()=>--n<=0?r():requestAnimationFrame(f);"
_WAIT_FRAMES += "requestAnimationFrame(f);});}"

SCROLL_JS = (
    _WAIT_FRAMES
    + """
const done = arguments[arguments.length - 1], steps = arguments[0];
const tree = document.querySelector('[data-testid="tree"]');
if (!tree) { done({error: "no tree"}); return; }
(async () => {
  const times = [];
  const bottom = () => tree.scrollHeight - tree.clientHeight;
  const step = async (top) => {
    const t = performance.now(); tree.scrollTop = top; await frames(2); times.push(performance.now() - t);
  };
  const height = bottom();
  for (let i = 1; i <= steps; i++) await step(height * i / steps);
  await step(bottom());
  for (let i = steps - 1; i >= 0; i--) await step(height * i / steps);
  let t = performance.now(); await frames(2); const floor = performance.now() - t;
  const inOrder = times.map((x) => Math.round(x));
  times.sort((a, b) => a - b);
  done({scroll_height_px: tree.scrollHeight, scroll_steps: times.length, scroll_floor_ms: floor,
        scroll_steps_over_50ms: times.filter((x) => x > 50).length, scroll_step_ms_in_order: inOrder,
        scroll_step_median_ms: times[times.length >> 1], scroll_step_max_ms: times[times.length - 1],
        rows_in_dom_scrolled: document.querySelectorAll('[data-testid="tree-row"]').length});
})();
"""
)

CLICK_JS = (
    _WAIT_FRAMES
    + """
const done = arguments[arguments.length - 1];
const button = document.querySelector('[data-testid="' + arguments[0] + '"]');
if (!button) { done(null); return; }
const t = performance.now(); button.click();
frames(2).then(() => done(performance.now() - t));
"""
)

WATCH_MATCHES_JS = """
const matches = document.querySelector('[data-testid="tree-matches"]');
window.__benchChanges = [];
if (matches) new MutationObserver(() => window.__benchChanges.push(performance.now()))
  .observe(matches, {childList: true, characterData: true, subtree: true, attributes: true});
return [performance.now(), matches ? matches.textContent : null];
"""


def browser(chromium: str, chromedriver: str) -> Any:
    """A new headless chromium driven by Debian's chromedriver (explicit paths: no Selenium Manager)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def wait_until(check: Callable[[], Any], timeout: float, poll: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(poll)


def open_page(page: Path, words: Sequence[str], chromium: str, chromedriver: str) -> dict[str, Any]:
    """One opening of ``page`` in a new browser, and what the page does then."""
    from selenium.webdriver.common.by import By

    driver = browser(chromium, chromedriver)
    try:
        driver.set_script_timeout(READY_TIMEOUT)
        driver.set_page_load_timeout(READY_TIMEOUT)
        start = time.perf_counter()
        driver.get(page.as_uri())

        def ready() -> str | None:
            value = driver.execute_script("return document.body && document.body.dataset.ready")
            return value if value in ("true", "error") else None

        state = wait_until(ready, READY_TIMEOUT)
        out: dict[str, Any] = {"open_s": time.perf_counter() - start, "ready": state}
        if state != "true":
            raise SystemExit(f"bench: the page did not become ready ({state!r})")
        out.update(
            driver.execute_script(
                "return {render_ms: Number(document.body.dataset.renderMs),"
                " heap_mib: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,"
                " rows_in_dom: document.querySelectorAll('[data-testid=\"tree-row\"]').length};"
            )
        )
        out["expand_all_ms"] = driver.execute_async_script(CLICK_JS, "expand-all")
        out["rows_in_dom_expanded"] = driver.execute_script(
            "return document.querySelectorAll('[data-testid=\"tree-row\"]').length"
        )
        out.update(driver.execute_async_script(SCROLL_JS, 10))
        out.update(search(driver, words, By.CSS_SELECTOR))
        out["heap_after_mib"] = driver.execute_script(
            "return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null"
        )
        return out
    finally:
        driver.quit()


def search(driver: Any, words: Sequence[str], css: str) -> dict[str, Any]:
    """Type each word into tree-search (after clearing it): page time from the first key to the last
    change of tree-matches, and what it says then."""
    from selenium.webdriver.common.keys import Keys

    boxes = driver.find_elements(css, '[data-testid="tree-search"]')
    out: dict[str, Any] = {}
    for word in words:
        if not boxes:
            out[f"search_ms:{word}"] = out[f"search_matches:{word}"] = None
            continue
        boxes[0].send_keys(Keys.CONTROL, "a")
        boxes[0].send_keys(Keys.DELETE)
        settle(driver, driver.execute_script(WATCH_MATCHES_JS)[0], need_change=False)
        started, before = driver.execute_script(WATCH_MATCHES_JS)
        boxes[0].send_keys(word)
        changes = settle(driver, started, need_change=True)
        text = driver.execute_script(
            "const m = document.querySelector('[data-testid=\"tree-matches\"]'); return m && m.textContent"
        )
        out[f"search_ms:{word}"] = changes[-1] - started if changes else None
        out[f"search_matches:{word}"] = text if text != before else f"(unchanged) {text}"
    return out


def settle(driver: Any, since: float, need_change: bool) -> list[float]:
    """Wait until tree-matches has not changed for QUIET_MS (and has changed once, if ``need_change``)."""

    def quiet() -> bool:
        changes: list[float] = driver.execute_script("return window.__benchChanges")
        now: float = driver.execute_script("return performance.now()")
        if need_change and not changes:
            return False
        return now - (changes[-1] if changes else since) > QUIET_MS

    wait_until(quiet, 30, poll=0.05)
    found: list[float] = driver.execute_script("return window.__benchChanges")
    return found


def page_counts(page: Path) -> dict[str, Any]:
    """summary.events/included from the data in the page (what the page shows as counts)."""
    text = page.read_text(encoding="utf-8")
    m = re.search(r'<script id="exectrail-case" type="application/json">(.*?)</script>', text, re.S)
    if not m:
        return {}
    summary = json.loads(m.group(1)).get("summary", {})
    return {key: summary.get(key) for key in ("events", "included", "failed", "alarms", "missing")}


# ---- the run ----------------------------------------------------------------------------------------


def anchors(log: Path, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    aureport = shutil.which("aureport") or "/usr/sbin/aureport"
    ausearch = shutil.which("ausearch") or "/usr/sbin/ausearch"
    for name, args in (
        ("aureport -x --summary", [aureport, "-x", "--summary", "-if", str(log)]),
        ("ausearch -m EXECVE -i", [ausearch, "-m", "EXECVE", "-i", "-if", str(log)]),
    ):
        if not Path(args[0]).exists():
            out[name] = None
            continue
        out[name] = median_run([run_process(args) for _ in range(repeat)])
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    log, events = build_log(work, args.events, args.as_captured)
    say(f"log: {log} ({log.stat().st_size / 1e6:.1f} MB, {events} exec events)")
    out_logs, out_db, db = work / "from-logs.html", work / "from-store.html", work / "bench.db"
    result: dict[str, Any] = {"log": str(log), "log_mb": log.stat().st_size / 1e6, "log_events": events}

    runs = [run_process([*cli(), "report", "--html", str(out_logs), str(log)]) for _ in range(args.repeat)]
    result["report_from_logs"] = {**median_run(runs), "file_mb": out_logs.stat().st_size / 1e6}
    result["page"] = page_counts(out_logs)
    say(f"report --html LOG: {json.dumps(result['report_from_logs'])} {json.dumps(result['page'])}")

    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    result["import"] = asdict(run_process([*cli(), "import", "--db", str(db), str(log)]))
    runs = [
        run_process([*cli(), "report", "--html", str(out_db), "--db", str(db)]) for _ in range(args.repeat)
    ]
    result["report_from_store"] = {**median_run(runs), "file_mb": out_db.stat().st_size / 1e6}
    say(f"report --html --db: {json.dumps(result['report_from_store'])}")

    if not args.no_browser:
        words = [w for w in args.search.split(",") if w]
        opens = [open_page(out_logs, words, args.chromium, args.chromedriver) for _ in range(args.repeat)]
        result["browser"] = {**median_of(opens), "search_words": words, "flags": list(BROWSER_FLAGS)}
        say(f"browser: {json.dumps(result['browser'])}")
    result["anchors"] = anchors(log, args.repeat)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "repeat": args.repeat}
    return result


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def cli_row(name: str, figures: dict[str, Any] | None) -> tuple[str, str, str, str]:
    if figures is None:
        return (name, "-", "-", "")
    size = fmt(figures["file_mb"], " MB", 1) if "file_mb" in figures else ""
    return (name, fmt(figures["seconds"], " s"), fmt(figures["peak_mib"], " MiB", 0), size)


def table(r: dict[str, Any]) -> str:
    rows = [
        ("", "time", "peak RSS", "file"),
        cli_row("report --html OUT LOG", r["report_from_logs"]),
        cli_row("import --db DB LOG (once)", r["import"]),
        cli_row("report --html OUT --db DB", r["report_from_store"]),
    ]
    rows += [cli_row(f"{name} -if LOG", anchor) for name, anchor in r["anchors"].items()]
    b = r.get("browser")
    if b:
        heap = (fmt(b["heap_mib"], " MiB", 0), fmt(b["heap_after_mib"], " MiB", 0))
        scroll = (fmt(b.get("scroll_step_median_ms"), " ms", 0), fmt(b.get("scroll_step_max_ms"), " ms", 0))
        rows += [
            ("chromium: get until data-ready", fmt(b["open_s"], " s"), "", ""),
            ("  the page's data-render-ms", fmt(b["render_ms"], " ms", 0), "", ""),
            ("  JS heap: ready / at the end", *heap, ""),
            (
                "  tree rows in the DOM: ready / expanded",
                str(b["rows_in_dom"]),
                str(b["rows_in_dom_expanded"]),
                "",
            ),
            ("  expand-all (click + 2 frames)", fmt(b["expand_all_ms"], " ms", 0), "", ""),
            ("  scroll step: median / max", *scroll, f"{b.get('scroll_steps')} steps"),
            ("    two frames without a scroll", fmt(b.get("scroll_floor_ms"), " ms", 0), "", ""),
            ("    steps over 50 ms", fmt(b.get("scroll_steps_over_50ms"), "", 0), "", ""),
        ]
        for word in b["search_words"]:
            rows.append(
                (f"  search {word!r} until tree-matches", fmt(b[f"search_ms:{word}"], " ms", 0), "", "")
            )
            rows.append(("    tree-matches says", str(b[f"search_matches:{word}"]), "", ""))
    width = max(len(row[0]) for row in rows)
    head = f"{r['log_events']} exec events, log {r['log_mb']:.1f} MB, median of {r['machine']['repeat']}"
    return "\n".join([head, *(f"{a:<{width}}  {b_:>10}  {c:>10}  {d}" for a, b_, c, d in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="At least this many exec events.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=WORK, help="Where the log and outputs go.")
    parser.add_argument(
        "--search", default="collect2,exec_chain", help="What to type into tree-search (comma list)."
    )
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    parser.add_argument("--as-captured", action="store_true", help="Keep every line (see above).")
    parser.add_argument("--no-browser", action="store_true", help="Only the CLI and the anchors.")
    parser.add_argument("--json", type=Path, help="Write the figures here as JSON.")
    args = parser.parse_args(argv)
    result = measure(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
