/* exectrail case report: the page over the case data (docs: contract of issue 16).
 * Plain DOM and canvas. Every value from the data is set with textContent (or as a data-* attribute or
 * title), never parsed as HTML. */
"use strict";
(function () {
  const started = performance.now();
  const ROW_HEIGHT = 24;          // px, fixed: the tree is a virtualized list
  const OVERSCAN = 8;             // rows drawn above and below the viewport
  const SEARCH_DELAY = 120;       // ms after the last key before a search runs
  const CHILD_LINKS = 200;        // children listed in the detail panel
  const EXPAND_UP_TO = 2000;      // a case this small opens with its whole tree expanded
  const ALARMS_FIRST = 50;        // alarms shown before a "show all" button
  const PRINT_ROWS = 2000;        // tree rows put on paper
  const MAX_INDENT = 24;          // deeper levels are not indented further, they say their level
  // C0, DEL, C1, line/paragraph separators and the bidi controls: shown escaped
  const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]/g;
  const NEEDS_QUOTES = /[\s"']/;

  /* ---------- small DOM helpers ---------- */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function testid(node, id) {
    node.setAttribute("data-testid", id);
    return node;
  }

  function section(id, heading) {
    const box = el("section", "card");
    box.id = id;
    box.appendChild(el("h2", "", heading));
    return box;
  }

  /* ---------- formatting ---------- */

  function pad(n, width) {
    return String(n).padStart(width, "0");
  }

  function formatTime(ms) {
    if (ms === null || ms === undefined) return "—";
    const d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1, 2) + "-" + pad(d.getUTCDate(), 2) + " " +
      pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2) + "." +
      pad(d.getUTCMilliseconds(), 3);
  }

  function formatDuration(ms) {
    if (ms < 1000) return ms + " ms";
    if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
    if (ms < 7200000) return (ms / 60000).toFixed(1) + " min";
    if (ms < 172800000) return (ms / 3600000).toFixed(1) + " h";
    return (ms / 86400000).toFixed(1) + " days";
  }

  function formatCount(n) {
    return Number(n).toLocaleString("en-US");
  }

  /** "12:34:56 UTC" style input text -> ms, or null (accepts "YYYY-MM-DD HH:MM[:SS[.mmm]]", UTC). */
  function parseTimeInput(text) {
    const value = text.trim();
    if (!value) return null;
    const iso = value.replace(" ", "T");
    const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(iso);
    const ms = Date.parse(hasZone ? iso : iso + "Z");
    return Number.isNaN(ms) ? NaN : ms;
  }

  function escapeControl(ch) {
    if (ch === "\n") return "\\n";
    if (ch === "\t") return "\\t";
    if (ch === "\r") return "\\r";
    const code = ch.charCodeAt(0);
    if (code < 0x100) return "\\x" + pad(code.toString(16), 2);
    return "\\u{" + code.toString(16) + "}";
  }

  /** Append ``text`` to ``parent`` as text nodes, control characters as visible escapes. */
  function appendVisible(parent, text) {
    CONTROLS.lastIndex = 0;
    let from = 0;
    let match;
    while ((match = CONTROLS.exec(text)) !== null) {
      if (match.index > from) parent.appendChild(document.createTextNode(text.slice(from, match.index)));
      parent.appendChild(el("span", "ctl", escapeControl(match[0])));
      from = match.index + 1;
    }
    if (from < text.length) parent.appendChild(document.createTextNode(from ? text.slice(from) : text));
  }

  function plainVisible(text) {
    CONTROLS.lastIndex = 0;
    return text.replace(CONTROLS, escapeControl);
  }

  /* ---------- the data ---------- */

  function decodeColumn(column, n) {
    if (Array.isArray(column)) return column;
    if (column && typeof column === "object" && "same" in column) return new Array(n).fill(column.same);
    if (column && typeof column === "object" && Array.isArray(column.delta)) {
      const out = new Float64Array(n);
      let value = 0;
      const deltas = column.delta;
      for (let i = 0; i < n; i++) {
        value += deltas[i];
        out[i] = value;
      }
      return out;
    }
    throw new Error("unknown column encoding");
  }

  function loadCase() {
    const source = document.getElementById("exectrail-case");
    const data = JSON.parse(source ? source.textContent : "null");
    if (!data || data.version !== 1) {
      throw new Error("this file holds no case data of version 1 (found " +
        (data && data.version !== undefined ? "version " + String(data.version) : "none") + ")");
    }
    const n = data.summary.included;
    const decoded = Object.create(null);
    const perEvent = (column, empty) => (column === undefined ? new Array(n).fill(empty) : decodeColumn(column, n));
    return {
      raw: data,
      n: n,
      strings: data.strings,
      lists: data.lists || [],
      hex: data.hex || {},
      fields: data.fields,
      /** the decoded column of a field (decoded once, on first use); null when absent */
      col(name) {
        if (!(name in decoded)) {
          const column = data.columns[name];
          decoded[name] = column === undefined ? null : decodeColumn(column, n);
        }
        return decoded[name];
      },
      parent: decodeColumn(data.parent, n),
      writable: perEvent(data.writable, false),
      host: perEvent(data.host, null),    // string index of the event's host name
      place: perEvent(data.place, null),  // string index: which writable or hidden place
      error: perEvent(data.error, null),  // string index: errno name of a failed exec
    };
  }

  let C = null; // the case (loadCase)

  function str(index) {
    return index === null || index === undefined ? null : C.strings[index];
  }

  function notUtf8(index) {
    return index !== null && index !== undefined && Object.prototype.hasOwnProperty.call(C.hex, index);
  }

  function value(name, i) {
    const column = C.col(name);
    return column ? column[i] : null;
  }

  function text(name, i) {
    return str(value(name, i));
  }

  function hostOf(i) {
    return str(C.host[i]) || text("node", i) || "";
  }

  /** An argv or list value: an index into the lists table (each distinct list once) -> string indices. */
  function list(name, i) {
    const v = value(name, i);
    return v === null || v === undefined ? null : C.lists[v];
  }

  /** One string of the table, escaped, with the "not UTF-8" mark when its bytes are not UTF-8. */
  function appendString(parent, index) {
    appendVisible(parent, C.strings[index]);
    if (notUtf8(index)) parent.appendChild(el("span", "mark bad-utf8", "not UTF-8"));
  }

  /** argv joined by spaces; an argument that is empty or holds a space or quote is shown quoted (its "
   * as \"; backslashes stay as they are: a \xNN of a not-UTF-8 string keeps its look, and the mark tells). */
  function appendArgv(parent, argv) {
    argv.forEach((index, k) => {
      if (k) parent.appendChild(document.createTextNode(" "));
      const arg = index === null ? "" : C.strings[index];
      if (arg === "" || NEEDS_QUOTES.test(arg)) {
        appendVisible(parent, "\"" + arg.replace(/"/g, "\\\"") + "\"");
      } else {
        appendVisible(parent, arg);
      }
      if (notUtf8(index)) parent.appendChild(el("span", "mark bad-utf8", "not UTF-8"));
    });
  }

  function userText(i) {
    const user = text("uid_name", i) ?? (value("uid", i) === null ? "?" : "uid " + value("uid", i));
    const login = text("auid_name", i) ?? (value("auid", i) === null ? null : "uid " + value("auid", i));
    return login !== null && login !== user ? login + " as " + user : user;
  }

  /** The badge of an exec from a writable or hidden place: "from /tmp", "from memfd". */
  function placeText(i) {
    const place = str(C.place[i]);
    return place ? "from " + plainVisible(place) : "writable place";
  }

  function failed(i) {
    return value("success", i) === false;
  }

  function errnoText(i) {  // the data names the errno of every failed exec (its number when unknown)
    return str(C.error[i]) ? "failed " + str(C.error[i]) : "failed";
  }

  /* ---------- the tree model: nodes 0..n-1 are events, n.. the synthetic "not recorded" parents ---------- */

  const T = {
    total: 0,
    nodeParent: null,      // Int32Array: parent node, -1 for the synthetic roots
    childStart: null,      // Int32Array(total + 1): CSR offsets into childList
    childList: null,       // Int32Array: children, in time order
    reexec: null,          // Uint8Array: the parent is the same process (exec after exec)
    roots: [],             // synthetic nodes, by time of their first child
    synthetic: [],         // [{host, ppid, first}] for node n + k
    expanded: null,        // Uint8Array
    shown: null,           // Uint8Array when a filter is active, else null
    shownKids: null,       // Int32Array: shown children per node (filter active)
    matches: null,         // Uint8Array: events matching the filter
    matchCount: 0,
    visible: new Int32Array(0),   // flattened rows: node ids
    depth: new Uint16Array(0),
    rows: 0,
    selected: -1,
  };

  function buildTree() {
    const n = C.n;
    const pids = C.col("pid");
    const ppids = C.col("ppid");
    const times = C.col("time");
    const groups = new Map();
    const parentOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const p = C.parent[i];
      if (p !== null && p >= 0 && p < n && p !== i) {
        parentOf[i] = p;
        continue;
      }
      const host = hostOf(i);
      const key = host + "\u0000" + ppids[i];
      let group = groups.get(key);
      if (group === undefined) {
        group = { host: host, ppid: ppids[i], first: times[i], id: n + groups.size };
        groups.set(key, group);
      }
      parentOf[i] = group.id;
    }
    T.synthetic = Array.from(groups.values());
    T.total = n + T.synthetic.length;
    T.nodeParent = new Int32Array(T.total);
    T.nodeParent.set(parentOf);
    T.nodeParent.fill(-1, n);
    // children lists (CSR), built once; events are in time order so children are too
    const counts = new Int32Array(T.total + 1);
    for (let i = 0; i < n; i++) counts[parentOf[i] + 1]++;
    for (let k = 1; k <= T.total; k++) counts[k] += counts[k - 1];
    T.childStart = counts.slice();
    T.childList = new Int32Array(n);
    const fill = counts.slice(0, T.total);
    for (let i = 0; i < n; i++) T.childList[fill[parentOf[i]]++] = i;
    T.reexec = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const p = parentOf[i];
      if (p < n && pids[p] === pids[i] && ppids[p] === ppids[i]) T.reexec[i] = 1;
    }
    T.roots = T.synthetic.slice().sort((a, b) => a.first - b.first).map((g) => g.id);
    T.expanded = new Uint8Array(T.total);
    for (const root of T.roots) T.expanded[root] = 1;
    if (n <= EXPAND_UP_TO) for (let node = 0; node < T.total; node++) T.expanded[node] = childCount(node) > 0 ? 1 : 0;
  }

  function childCount(node) {
    return T.childStart[node + 1] - T.childStart[node];
  }

  function hasChildren(node) {
    return T.shown ? T.shownKids[node] > 0 : childCount(node) > 0;
  }

  /** The rows in view order: a depth-first walk over expanded (and, when filtering, shown) nodes. */
  function flatten() {
    if (T.visible.length < T.total) {
      T.visible = new Int32Array(T.total);
      T.depth = new Uint16Array(T.total);
    }
    const stack = new Int32Array(T.total + 1);
    const stackDepth = new Uint16Array(T.total + 1);
    let top = 0;
    for (let k = T.roots.length - 1; k >= 0; k--) {
      const root = T.roots[k];
      if (T.shown && !T.shown[root]) continue;
      stack[top] = root;
      stackDepth[top++] = 0;
    }
    let rows = 0;
    while (top > 0) {
      const node = stack[--top];
      const depth = stackDepth[top];
      T.visible[rows] = node;
      T.depth[rows++] = depth;
      if (!T.expanded[node]) continue;
      for (let c = T.childStart[node + 1] - 1; c >= T.childStart[node]; c--) {
        const child = T.childList[c];
        if (T.shown && !T.shown[child]) continue;
        stack[top] = child;
        stackDepth[top++] = Math.min(depth + 1, 65535);
      }
    }
    T.rows = rows;
    // the full height at once, so that a scroll to a row just made visible is not cut short
    if (UI.spacer) UI.spacer.style.height = rows * ROW_HEIGHT + "px";
  }

  /* ---------- search and filters ---------- */

  let lowerStrings = null; // lower-cased string table, made on the first search
  let haystacks = null;    // per event: argv, exe, comm, cwd and user names, lower-cased

  function buildHaystacks() {
    lowerStrings = C.strings.map((s) => s.toLowerCase());
    const parts = ["exe", "comm", "cwd", "uid_name", "euid_name", "auid_name"].map((f) => C.col(f))
      .filter((column) => column !== null);
    const argvs = C.col("argv");
    haystacks = new Array(C.n);
    for (let i = 0; i < C.n; i++) {
      let hay = "";
      const argv = argvs && argvs[i] !== null ? C.lists[argvs[i]] : null;
      if (argv) for (let k = 0; k < argv.length; k++) hay += (k ? " " : "") + (lowerStrings[argv[k]] ?? "");
      for (const column of parts) {
        const index = column[i];
        if (index !== null && index !== undefined) hay += "\u0000" + lowerStrings[index];
      }
      haystacks[i] = hay;
    }
  }

  function readFilter(controls) {
    const from = parseTimeInput(controls.from.value);
    const to = parseTimeInput(controls.to.value);
    controls.from.classList.toggle("invalid", Number.isNaN(from));
    controls.to.classList.toggle("invalid", Number.isNaN(to));
    return {
      search: controls.search.value.toLowerCase(),
      user: controls.user.value,
      session: controls.session.value,
      tty: controls.tty.value,
      from: Number.isNaN(from) ? null : from,
      to: Number.isNaN(to) ? null : to,
    };
  }

  function filterActive(f) {
    return Boolean(f.search || f.user || f.session || f.tty || f.from !== null || f.to !== null);
  }

  function eventMatches(i, f, cols) {
    if (f.search && haystacks[i].indexOf(f.search) < 0) return false;
    if (f.user) {
      const u = f.user;
      if (str(cols.uid[i]) !== u && str(cols.auid[i]) !== u && str(cols.euid[i]) !== u) return false;
    }
    if (f.session && String(cols.ses[i]) !== f.session) return false;
    if (f.tty && String(str(cols.tty[i])) !== f.tty) return false;
    if (f.from !== null && cols.time[i] < f.from) return false;
    if (f.to !== null && cols.time[i] > f.to) return false;
    return true;
  }

  /** Mark matching events, show them with their ancestors expanded; no filter: the whole tree. */
  function applyFilter(f) {
    if (!filterActive(f)) {
      T.shown = T.shownKids = T.matches = null;
      T.matchCount = C.n;
      return;
    }
    if (f.search && haystacks === null) buildHaystacks();
    const none = new Array(C.n).fill(null);
    const cols = {
      uid: C.col("uid_name") || none, auid: C.col("auid_name") || none, euid: C.col("euid_name") || none,
      ses: C.col("ses") || none, tty: C.col("tty") || none, time: C.col("time"),
    };
    T.matches = new Uint8Array(C.n);
    T.shown = new Uint8Array(T.total);
    T.shownKids = new Int32Array(T.total);
    let count = 0;
    for (let i = 0; i < C.n; i++) {
      if (!eventMatches(i, f, cols)) continue;
      T.matches[i] = 1;
      count++;
      let node = i;
      while (node >= 0 && !T.shown[node]) {
        T.shown[node] = 1;
        const up = T.nodeParent[node];
        if (up >= 0) {
          T.shownKids[up]++;
          T.expanded[up] = 1;
        }
        node = up;
      }
    }
    T.matchCount = count;
  }

  /* ---------- page sections ---------- */

  function summaryItem(list, label, valueNode, note) {
    const row = el("div", "item");
    row.appendChild(el("dt", "", label));
    const dd = el("dd");
    if (valueNode instanceof Node) dd.appendChild(valueNode);
    else dd.textContent = String(valueNode);
    if (note) dd.appendChild(el("span", "note", note));
    row.appendChild(dd);
    list.appendChild(row);
  }

  /** A count with its test hook; ``alert``: a count that should be 0 stands out when it is not. */
  function countNode(id, n, alert) {
    const node = testid(el("span", alert && n ? "count attention" : "count", formatCount(n)), id);
    node.setAttribute("data-value", String(n));
    return node;
  }

  function renderSummary(root) {
    const s = C.raw.summary;
    const made = C.raw.made;
    const box = section("summary", "Summary");
    if (s.cut) {
      const cut = testid(el("p", "notice cut"), "cut-notice");
      cut.appendChild(el("strong", "", "Not every matching event is in this file: "));
      appendVisible(cut, s.cut);
      box.appendChild(cut);
    }
    const grid = el("div", "summary-grid");
    const facts = el("dl", "facts");
    summaryItem(facts, "Hosts", s.hosts.length ? s.hosts.join(", ") : "this host (no host names in the events)");
    summaryItem(facts, "First event", formatTime(s.first) + (s.first === null ? "" : " UTC"));
    summaryItem(facts, "Last event", formatTime(s.last) + (s.last === null ? "" : " UTC"),
      s.first !== null && s.last !== null ? " (" + formatDuration(s.last - s.first) + ")" : "");
    summaryItem(facts, "Filter", s.filter || "none: every event of the source");
    const source = made.source || {};
    summaryItem(facts, "Source", (source.kind || "?") + ": " + (source.name || "?"));
    const chain = testid(el("span", "mono", s.chain || "none (not made from a store)"), "chain-head");
    const checked = s.verified === true ? "hash chains checked out when the report was made"
      : s.verified === false ? "hash chains did NOT check out when the report was made"
        : s.chain ? "hash chains not checked" : "";
    summaryItem(facts, "Chain heads", chain, checked ? " (" + checked + ")" : "");
    grid.appendChild(facts);

    const counts = el("dl", "counts");
    summaryItem(counts, "Events matching", countNode("count-events", s.events));
    summaryItem(counts, "Events in this file", countNode("count-included", s.included));
    summaryItem(counts, "Failed execs", countNode("count-failed", s.failed, true));
    summaryItem(counts, "Alarms", countNode("count-alarms", s.alarms, true), " (" + formatCount(s.certain) + " certain)");
    summaryItem(counts, "Lost by the kernel", countNode("count-lost", s.lost, true));
    summaryItem(counts, "Missing from the log", countNode("count-missing", s.missing, true));
    summaryItem(counts, "Blind spots", countNode("count-blind", s.blind_spots, true),
      " (" + formatDuration(s.blind_ms) + (s.blind_open ? ", " + s.blind_open + " open to the end" : "") + ")");
    grid.appendChild(counts);
    box.appendChild(grid);

    if (s.inputs && s.inputs.length) {
      const inputs = el("table", "inputs");
      const head = el("tr");
      for (const h of ["Input file", "Bytes", "SHA-256"]) head.appendChild(el("th", "", h));
      inputs.appendChild(head);
      for (const input of s.inputs) {
        const row = el("tr");
        const name = el("td");
        appendVisible(name, input.name);
        if (input.note) appendVisible(name.appendChild(el("span", "note")), " (" + input.note + ")");
        row.appendChild(name);
        row.appendChild(el("td", "num", formatCount(input.bytes)));
        row.appendChild(el("td", "mono", input.sha256));
        inputs.appendChild(row);
      }
      box.appendChild(inputs);
    }
    if (s.problems && s.problems.length) {
      const problems = el("ul", "problems");
      for (const p of s.problems) appendVisible(problems.appendChild(el("li")), p);
      box.appendChild(el("h3", "", "Input problems"));
      box.appendChild(problems);
    }
    const madeLine = testid(el("p", "made"), "made");
    madeLine.appendChild(document.createTextNode("Made " + made.at + " by " + made.by + ": "));
    appendVisible(madeLine.appendChild(el("code")), made.command);
    box.appendChild(madeLine);
    root.appendChild(box);
  }

  function sortedAlarms() {
    return C.raw.alarms.map((a, k) => ({ alarm: a, k: k })).sort((x, y) => {
      const cx = x.alarm.certainty === "certain" ? 0 : 1;
      const cy = y.alarm.certainty === "certain" ? 0 : 1;
      return cx - cy || x.alarm.time - y.alarm.time || x.k - y.k;
    }).map((x) => x.alarm);
  }

  function renderAlarms(root) {
    const box = section("alarms", "Alarms");
    const alarms = sortedAlarms();
    if (!alarms.length) box.appendChild(el("p", "quiet", "No interference with the trail was found."));
    const list = el("div", "alarm-list");
    box.appendChild(list);
    const addCards = (from, to) => {
      for (const alarm of alarms.slice(from, to)) list.appendChild(alarmCard(alarm));
    };
    addCards(0, ALARMS_FIRST);
    if (alarms.length > ALARMS_FIRST) {
      const more = el("button", "more", "Show all " + formatCount(alarms.length) + " alarms (" +
        formatCount(alarms.length - ALARMS_FIRST) + " more)");
      more.type = "button";
      more.addEventListener("click", () => {
        more.remove();
        addCards(ALARMS_FIRST, alarms.length);
      });
      box.appendChild(more);
    }
    root.appendChild(box);
  }

  function alarmCard(alarm) {
    const card = testid(el("article", "alarm " + (alarm.certainty === "certain" ? "certain" : "suspicious")),
      "alarm");
    card.setAttribute("data-kind", alarm.kind);
    const head = el("header");
    head.appendChild(el("span", "kind", alarm.kind));
    head.appendChild(el("span", "certainty", alarm.certainty));
    head.appendChild(el("span", "when", formatTime(alarm.time) + " UTC"));
    if (alarm.host) head.appendChild(el("span", "host", "host " + plainVisible(alarm.host)));
    if (alarm.span) {
      const end = alarm.span[1];
      head.appendChild(el("span", "span", end === null ? "blind to the end of the data"
        : "blind for " + formatDuration(end - alarm.span[0])));
    }
    card.appendChild(head);
    appendVisible(card.appendChild(el("p", "alarm-summary")), alarm.summary);
    if (alarm.evidence && alarm.evidence.length) {
      const pre = el("pre", "evidence");
      alarm.evidence.forEach((line, k) => {
        if (k) pre.appendChild(document.createTextNode("\n"));
        appendVisible(pre, line);
      });
      card.appendChild(pre);
    }
    if (alarm.details && Object.keys(alarm.details).length) {
      const more = el("details", "alarm-details");
      more.appendChild(el("summary", "", "details"));
      appendVisible(more.appendChild(el("pre")), JSON.stringify(alarm.details, null, 1));
      card.appendChild(more);
    }
    const link = testid(el("a", "events-around", "events around"), "alarm-events");
    link.href = "#explorer";
    link.addEventListener("click", (event) => {
      event.preventDefault();
      showEventsAround(alarm);
    });
    card.appendChild(link);
    return card;
  }

  /** Index of the first event at or after ``ms`` (binary search over the time column). */
  function firstAtOrAfter(ms) {
    const times = C.col("time");
    let lo = 0;
    let hi = C.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The event nearest in time to ``ms`` (on ``host`` when given and present), or -1. */
  function nearestEvent(ms, host) {
    if (!C.n) return -1;
    const times = C.col("time");
    const start = firstAtOrAfter(ms);
    let best = -1;
    let bestGap = Infinity;
    const consider = (i) => {
      if (host && hostOf(i) && hostOf(i) !== host) return false;
      const gap = Math.abs(times[i] - ms);
      if (gap < bestGap) {
        best = i;
        bestGap = gap;
      }
      return true;
    };
    for (let i = start; i < C.n; i++) if (consider(i)) break;
    for (let i = start - 1; i >= 0; i--) if (consider(i)) break;
    return best === -1 && host ? nearestEvent(ms, null) : best;
  }

  /* ---------- timeline ---------- */

  // bucket widths in ms: below a second too, so that a burst of a few seconds still shows its shape
  const STEPS = [10, 20, 50, 100, 200, 500].concat(
    [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000));
  const TL = { canvas: null, start: 0, step: 1000, buckets: 0, total: null, failedCounts: null, marks: [] };

  function timelineRange() {
    const s = C.raw.summary;
    let lo = s.first;
    let hi = s.last;
    for (const a of C.raw.alarms) {
      const times = [a.time].concat(a.span ? a.span.filter((t) => t !== null) : []);
      for (const t of times) {
        if (lo === null || t < lo) lo = t;
        if (hi === null || t > hi) hi = t;
      }
    }
    return lo === null ? null : [lo, hi];
  }

  function buildTimeline() {
    const range = timelineRange();
    if (!range) return;
    const span = Math.max(range[1] - range[0], 1);
    TL.step = STEPS.find((step) => span / step <= 300) || 86400000;
    TL.start = Math.floor(range[0] / TL.step) * TL.step;
    TL.buckets = Math.max(1, Math.floor((range[1] - TL.start) / TL.step) + 1);
    TL.total = new Int32Array(TL.buckets);
    TL.failedCounts = new Int32Array(TL.buckets);
    const times = C.col("time");
    const success = C.col("success");
    for (let i = 0; i < C.n; i++) {
      const b = Math.floor((times[i] - TL.start) / TL.step);
      if (b < 0 || b >= TL.buckets) continue;
      TL.total[b]++;
      if (success && success[i] === false) TL.failedCounts[b]++;
    }
  }

  function drawTimeline() {
    const canvas = TL.canvas;
    if (!canvas || !canvas.isConnected) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(200, canvas.parentElement.clientWidth);
    const height = 150;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    const styles = getComputedStyle(document.body);
    const color = (name, fallback) => styles.getPropertyValue(name).trim() || fallback;
    const left = 44;
    const right = width - 10;
    const top = 16;
    const bottom = height - 22;
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = color("--muted", "#667");
    if (!TL.total) {
      g.fillText("no events and no alarms to show", left, height / 2);
      return;
    }
    const max = Math.max(1, ...TL.total);
    const barWidth = (right - left) / TL.buckets;
    const xOf = (ms) => left + ((ms - TL.start) / (TL.step * TL.buckets)) * (right - left);
    const yOf = (count) => bottom - (count / max) * (bottom - top);
    TL.geometry = { left: left, right: right, top: top, bottom: bottom, xOf: xOf };
    // blind spots, shaded behind the bars
    g.fillStyle = color("--blind", "rgba(120,120,140,.22)");
    for (const a of C.raw.alarms) {
      if (!a.span) continue;
      const x0 = Math.max(left, xOf(a.span[0]));
      const x1 = a.span[1] === null ? right : Math.min(right, Math.max(xOf(a.span[1]), x0 + 2));
      g.fillRect(x0, top, x1 - x0, bottom - top);
    }
    // axis and scale
    g.strokeStyle = color("--rule", "#ccd");
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(left, bottom + 0.5);
    g.lineTo(right, bottom + 0.5);
    g.stroke();
    g.fillStyle = color("--muted", "#667");
    g.textAlign = "right";
    g.fillText(formatCount(max), left - 6, top + 8);
    g.fillText("0", left - 6, bottom);
    g.textAlign = "left";
    // bars: successful execs, failed stacked on top in another colour
    const ok = color("--bar", "#4a6fa5");
    const bad = color("--failed", "#b42318");
    for (let b = 0; b < TL.buckets; b++) {
      const all = TL.total[b];
      if (!all) continue;
      const x = left + b * barWidth;
      const w = Math.max(1, barWidth - (barWidth > 3 ? 1 : 0));
      const yAll = yOf(all);
      const yOk = yOf(all - TL.failedCounts[b]);
      g.fillStyle = ok;
      g.fillRect(x, yOk, w, bottom - yOk);
      if (TL.failedCounts[b]) {
        g.fillStyle = bad;
        g.fillRect(x, yAll, w, yOk - yAll);
      }
    }
    // time labels at both ends and the middle
    const end = TL.start + TL.step * TL.buckets;
    const labelLength = TL.step < 1000 ? 23 : 19; // milliseconds when the buckets are that short
    g.fillStyle = color("--muted", "#667");
    g.fillText(formatTime(TL.start).slice(0, labelLength), left, height - 6);
    g.textAlign = "center";
    if (right - left > 500) g.fillText(formatTime((TL.start + end) / 2).slice(0, labelLength), (left + right) / 2, height - 6);
    g.textAlign = "right";
    g.fillText(formatTime(end).slice(0, labelLength) + " UTC", right, height - 6);
    g.textAlign = "left";
    // alarms: a mark at the top, a thin line down
    TL.marks = [];
    for (const a of C.raw.alarms) {
      const x = xOf(a.time);
      g.strokeStyle = g.fillStyle = a.certainty === "certain" ? color("--alarm", "#b42318")
        : color("--suspicious", "#b54708");
      g.beginPath();
      g.moveTo(x + 0.5, top);
      g.lineTo(x + 0.5, bottom);
      g.globalAlpha = 0.5;
      g.stroke();
      g.globalAlpha = 1;
      g.beginPath();
      g.moveTo(x - 5, 2);
      g.lineTo(x + 5, 2);
      g.lineTo(x, 12);
      g.closePath();
      g.fill();
      TL.marks.push({ x: x, alarm: a });
    }
  }

  function timelineBucketAt(event) {
    if (!TL.geometry || !TL.total) return -1;
    const rect = TL.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const { left, right } = TL.geometry;
    if (x < left || x > right) return -1;
    return Math.min(TL.buckets - 1, Math.floor(((x - left) / (right - left)) * TL.buckets));
  }

  function timelineHover(event) {
    const rect = TL.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const mark = TL.marks.find((m) => Math.abs(m.x - x) <= 5);
    if (mark) {
      TL.canvas.title = mark.alarm.kind + " (" + mark.alarm.certainty + "), " + formatTime(mark.alarm.time) +
        " UTC: " + plainVisible(mark.alarm.summary);
      return;
    }
    const b = timelineBucketAt(event);
    if (b < 0) {
      TL.canvas.title = "";
      return;
    }
    const from = TL.start + b * TL.step;
    TL.canvas.title = formatTime(from) + " UTC, " + formatDuration(TL.step) + ": " + formatCount(TL.total[b]) +
      " execs, " + formatCount(TL.failedCounts[b]) + " failed (click: show them in the tree)";
  }

  function renderTimeline(root) {
    const box = section("timeline", "Timeline");
    buildTimeline();
    const note = el("p", "legend");
    const legend = [["bar", "executions"], ["failed", "failed"], ["blind", "blind spot"], ["alarm-mark", "alarm"]];
    for (const [cls, label] of legend) {
      note.appendChild(el("span", "swatch " + cls));
      note.appendChild(el("span", "legend-label", label));
    }
    note.appendChild(el("span", "quiet", TL.total ? "per " + formatDuration(TL.step) +
      "; click a bar to show its time range in the tree" : ""));
    box.appendChild(note);
    const wrap = el("div", "canvas-wrap");
    TL.canvas = testid(el("canvas"), "timeline");
    TL.canvas.setAttribute("role", "img");
    TL.canvas.setAttribute("aria-label", "executions over time, failed ones, alarms and blind spots");
    wrap.appendChild(TL.canvas);
    box.appendChild(wrap);
    root.appendChild(box);
    TL.canvas.addEventListener("mousemove", timelineHover);
    TL.canvas.addEventListener("click", (event) => {
      const b = timelineBucketAt(event);
      if (b < 0) return;
      const from = TL.start + b * TL.step;
      setTimeRange(from, from + TL.step - 1);
    });
  }

  /* ---------- the tree explorer ---------- */

  const UI = {};

  function option(select, valueText, label) {
    const node = el("option", "", label);
    node.value = valueText;
    select.appendChild(node);
  }

  function distinctStrings(columns) {
    const seen = new Set();
    for (const column of columns) {
      if (!column) continue;
      for (let i = 0; i < column.length; i++) if (column[i] !== null) seen.add(C.strings[column[i]]);
    }
    return Array.from(seen).sort();
  }

  function makeSelect(id, label, values) {
    const wrap = el("label", "control");
    wrap.appendChild(el("span", "", label));
    const select = testid(el("select"), id);
    option(select, "", "all");
    for (const v of values) option(select, v, plainVisible(v));
    wrap.appendChild(select);
    return { wrap: wrap, input: select };
  }

  function makeInput(id, label, placeholder, type) {
    const wrap = el("label", "control");
    wrap.appendChild(el("span", "", label));
    const input = testid(el("input"), id);
    input.type = type || "text";
    input.placeholder = placeholder;
    input.spellcheck = false;
    input.autocomplete = "off";
    wrap.appendChild(input);
    return { wrap: wrap, input: input };
  }

  function renderExplorer(root) {
    const box = section("explorer", "Process tree");
    const controls = el("div", "controls");
    const search = makeInput("tree-search", "Search", "command line, exe, comm, cwd, user", "search");
    search.wrap.classList.add("grow");
    const users = makeSelect("filter-user", "User",
      distinctStrings([C.col("uid_name"), C.col("auid_name"), C.col("euid_name")]));
    const sessions = new Set();
    const ses = C.col("ses");
    if (ses) for (let i = 0; i < C.n; i++) if (ses[i] !== null) sessions.add(ses[i]);
    const session = makeSelect("filter-session", "Session",
      Array.from(sessions).sort((a, b) => a - b).map(String));
    const tty = makeSelect("filter-tty", "TTY", distinctStrings([C.col("tty")]));
    const from = makeInput("filter-from", "From (UTC)", "YYYY-MM-DD HH:MM:SS");
    const to = makeInput("filter-to", "To (UTC)", "YYYY-MM-DD HH:MM:SS");
    for (const c of [search, users, session, tty, from, to]) controls.appendChild(c.wrap);
    box.appendChild(controls);

    const bar = el("div", "tree-bar");
    const matches = el("span", "matches");
    UI.matches = testid(el("strong"), "tree-matches");
    UI.matchesLabel = el("span");
    matches.appendChild(UI.matches);
    matches.appendChild(UI.matchesLabel);
    bar.appendChild(matches);
    const buttons = el("span", "buttons");
    const expandAll = testid(el("button", "", "Expand all"), "expand-all");
    const collapseAll = testid(el("button", "", "Collapse all"), "collapse-all");
    const clear = el("button", "", "Clear filters");
    for (const b of [expandAll, collapseAll, clear]) {
      b.type = "button";
      buttons.appendChild(b);
    }
    bar.appendChild(buttons);
    box.appendChild(bar);

    const layout = el("div", "explorer");
    UI.tree = testid(el("div", "tree"), "tree");
    UI.tree.setAttribute("role", "tree");
    UI.tree.tabIndex = 0;
    UI.spacer = el("div", "spacer");
    UI.rowsLayer = el("div", "rows");
    UI.spacer.appendChild(UI.rowsLayer);
    UI.tree.appendChild(UI.spacer);
    layout.appendChild(UI.tree);
    UI.detail = testid(el("aside", "detail"), "detail");
    UI.detail.appendChild(el("p", "quiet", "Click an event in the tree to see all its fields."));
    layout.appendChild(UI.detail);
    box.appendChild(layout);
    root.appendChild(box);

    UI.controls = { search: search.input, user: users.input, session: session.input, tty: tty.input,
      from: from.input, to: to.input };
    let timer = 0;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(refilter, SEARCH_DELAY);
    };
    search.input.addEventListener("input", later);
    search.input.addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(timer); refilter(); } });
    for (const c of [from.input, to.input]) {
      c.addEventListener("change", refilter);
      c.addEventListener("keydown", (e) => { if (e.key === "Enter") refilter(); });
    }
    for (const c of [users.input, session.input, tty.input]) c.addEventListener("change", refilter);
    expandAll.addEventListener("click", () => setAllExpanded(1));
    collapseAll.addEventListener("click", () => setAllExpanded(0));
    clear.addEventListener("click", () => {
      for (const c of Object.values(UI.controls)) c.value = "";
      refilter();
    });
    UI.tree.addEventListener("scroll", scheduleRows, { passive: true });
    UI.tree.addEventListener("click", treeClick);
    UI.tree.addEventListener("keydown", treeKey);
  }

  function refilter() {
    applyFilter(readFilter(UI.controls));
    flatten();
    updateMatches();
    UI.tree.scrollTop = 0;
    drawRows(true);
  }

  function setTimeRange(from, to) {
    UI.controls.from.value = formatTime(from);
    UI.controls.to.value = formatTime(to);
    refilter();
    UI.tree.scrollIntoView({ block: "start" });
  }

  function updateMatches() {
    UI.matches.textContent = formatCount(T.matchCount);
    UI.matches.setAttribute("data-value", String(T.matchCount));
    UI.matchesLabel.textContent = T.shown ? " of " + formatCount(C.n) + " events match" : " events";
  }

  function setAllExpanded(flag) {
    for (let node = 0; node < T.total; node++) T.expanded[node] = flag && hasChildren(node) ? 1 : 0;
    if (!flag) for (const root of T.roots) T.expanded[root] = 0;
    flatten();
    drawRows(true);
  }

  function toggle(node) {
    T.expanded[node] = T.expanded[node] ? 0 : 1;
    flatten();
    drawRows(true);
  }

  let rowsPending = false;

  function scheduleRows() {
    if (rowsPending) return;
    rowsPending = true;
    requestAnimationFrame(() => {
      rowsPending = false;
      drawRows(false);
    });
  }

  /** Put only the rows in (and near) the viewport into the DOM; the spacer gives the full height. */
  function drawRows(force) {
    const viewport = UI.tree.clientHeight || 600;
    const first = Math.max(0, Math.floor(UI.tree.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(T.rows, Math.ceil((UI.tree.scrollTop + viewport) / ROW_HEIGHT) + OVERSCAN);
    const drawn = first + ":" + last;
    if (force !== true && drawn === UI.drawn) return; // same rows, same state: keep the DOM as it is
    UI.drawn = drawn;
    drawRowRange(first, last);
  }

  function drawRowRange(first, last) {
    UI.spacer.style.height = T.rows * ROW_HEIGHT + "px";
    const fragment = document.createDocumentFragment();
    for (let r = first; r < last; r++) fragment.appendChild(makeRow(r));
    UI.rowsLayer.style.transform = "translateY(" + first * ROW_HEIGHT + "px)";
    UI.rowsLayer.replaceChildren(fragment);
    if (!T.rows) {
      UI.rowsLayer.appendChild(el("div", "empty", T.shown ? "No event matches." : "No events."));
    }
  }

  function makeRow(r) {
    const node = T.visible[r];
    const isEvent = node < C.n;
    const row = testid(el("div", "row"), "tree-row");
    row.setAttribute("role", "treeitem");
    row.setAttribute("data-row", String(r));
    row.setAttribute("data-event", String(isEvent ? node : -1));
    if (!isEvent) row.setAttribute("data-group", String(node - C.n));
    const depth = T.depth[r];
    row.style.paddingLeft = 6 + Math.min(depth, MAX_INDENT) * 16 + "px";
    row.setAttribute("data-depth", String(depth));
    if (hasChildren(node)) {
      const open = T.expanded[node] === 1;
      row.setAttribute("data-expanded", open ? "true" : "false");
      row.setAttribute("aria-expanded", open ? "true" : "false");
      const button = testid(el("button", "toggle", open ? "▾" : "▸"), "tree-toggle");
      button.type = "button";
      button.tabIndex = -1;
      button.setAttribute("aria-label", open ? "collapse" : "expand");
      row.appendChild(button);
    } else {
      row.appendChild(el("span", "toggle leaf"));
    }
    if (depth > MAX_INDENT) row.appendChild(el("span", "badge deep", "level " + depth));
    if (!isEvent) {
      const group = T.synthetic[node - C.n];
      row.classList.add("group");
      row.appendChild(el("span", "label", "pid " + group.ppid + " (not recorded)"));
      if (group.host) row.appendChild(el("span", "host", plainVisible(group.host)));
      row.appendChild(el("span", "quiet", formatCount(childCount(node)) + " exec" + (childCount(node) === 1 ? "" : "s")));
      return row;
    }
    if (node === T.selected) {
      row.classList.add("selected");
      row.setAttribute("aria-selected", "true");
    }
    if (T.matches && T.matches[node]) row.classList.add("match");
    else if (T.matches) row.classList.add("context");
    row.appendChild(el("span", "time", formatTime(value("time", node)).slice(11)));
    row.appendChild(el("span", "user", plainVisible(userText(node))));
    if (T.reexec[node]) row.appendChild(el("span", "badge reexec", "↳ exec"));
    if (failed(node)) {
      row.classList.add("failed");
      row.appendChild(el("span", "badge failed", errnoText(node)));
    }
    if (C.writable[node]) {
      row.classList.add("writable");
      row.appendChild(el("span", "badge writable", placeText(node)));
    }
    const argv = list("argv", node);
    const args = el("span", "argv");
    const tried = value("path", node); // a failed exec has no argv: show the path it tried
    if (argv && argv.length) appendArgv(args, argv);
    else if (tried !== null && tried !== undefined) appendString(args, tried);
    else if (value("comm", node) !== null) appendString(args, value("comm", node));
    row.title = args.textContent; // the whole command line when the row cuts it
    row.appendChild(args);
    const exe = value("exe", node);
    if (exe !== null && exe !== undefined) {
      const exeNode = el("span", "exe");
      appendString(exeNode, exe);
      row.appendChild(exeNode);
    }
    return row;
  }

  function treeClick(event) {
    const row = event.target.closest(".row");
    if (!row) return;
    const index = Number(row.getAttribute("data-row"));
    const node = T.visible[index];
    if (event.target.closest(".toggle") && hasChildren(node)) {
      toggle(node);
      return;
    }
    if (node < C.n) select(node);
    else toggle(node);
  }

  function treeKey(event) {
    if (!T.rows) return;
    let r = rowOf(T.selected);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      r = r < 0 ? 0 : Math.max(0, Math.min(T.rows - 1, r + (event.key === "ArrowDown" ? 1 : -1)));
      const node = T.visible[r];
      if (node < C.n) select(node, true);
      else {
        T.selected = node;
        scrollToRow(r);
        drawRows(true);
      }
      event.preventDefault();
    } else if ((event.key === "ArrowRight" || event.key === "ArrowLeft") && r >= 0) {
      const node = T.visible[r];
      const open = event.key === "ArrowRight";
      if (hasChildren(node) && T.expanded[node] !== (open ? 1 : 0)) toggle(node);
      event.preventDefault();
    }
  }

  function rowOf(node) {
    if (node < 0) return -1;
    for (let r = 0; r < T.rows; r++) if (T.visible[r] === node) return r;
    return -1;
  }

  function scrollToRow(r) {
    const viewport = UI.tree.clientHeight;
    const y = r * ROW_HEIGHT;
    if (y < UI.tree.scrollTop || y + ROW_HEIGHT > UI.tree.scrollTop + viewport) {
      UI.tree.scrollTop = Math.max(0, y - viewport / 2);
    }
  }

  function select(node, keepScroll) {
    T.selected = node;
    renderDetail(node);
    if (keepScroll) scrollToRow(rowOf(node));
    drawRows(true);
  }

  /** Make ``event`` a visible row (clearing a filter that hides it), select it and scroll to it. */
  function reveal(event) {
    if (T.shown && !T.shown[event]) {
      for (const c of Object.values(UI.controls)) c.value = "";
      applyFilter(readFilter(UI.controls));
      updateMatches();
    }
    for (let up = T.nodeParent[event]; up >= 0; up = T.nodeParent[up]) T.expanded[up] = 1;
    flatten();
    select(event, true);
  }

  function showEventsAround(alarm) {
    const i = nearestEvent(alarm.time, alarm.host);
    document.getElementById("explorer").scrollIntoView({ block: "start" });
    if (i >= 0) {
      reveal(i);
      UI.tree.focus({ preventScroll: true });
    }
  }

  /* ---------- event detail ---------- */

  function appendHex(parent, index) {
    if (!notUtf8(index)) return;
    const hex = el("div", "hex");
    hex.appendChild(el("span", "hex-label", "bytes (hex) "));
    hex.appendChild(el("code", "", C.hex[index]));
    parent.appendChild(hex);
  }

  function detailValue(kind, v) {
    const out = testid(el("div", "value"), "detail-value");
    if (v === null || v === undefined) {
      out.appendChild(el("span", "null", "null"));
      return out;
    }
    switch (kind) {
      case "time":
        out.textContent = formatTime(v) + " UTC";
        out.setAttribute("data-ms", String(v));
        break;
      case "int":
      case "bool":
        out.textContent = String(v);
        break;
      case "name":
      case "text":
        appendString(out, v);
        appendHex(out, v);
        break;
      case "argv":
      case "list": {
        const items = C.lists[v] || [];
        const ol = el("ol", kind === "argv" ? "args" : "names");
        ol.start = 0;
        for (const index of items) {
          const item = el("li", "arg");
          if (index === null) item.appendChild(el("span", "null", "null"));
          else {
            appendString(item, index);
            appendHex(item, index);
          }
          ol.appendChild(item);
        }
        if (!items.length) out.appendChild(el("span", "null", "(none)"));
        else out.appendChild(ol);
        break;
      }
      default:
        appendObject(out, v);
    }
    return out;
  }

  /** An object field: the string index of its JSON text, or {"event": i} for "made from event i". */
  function appendObject(out, v) {
    if (typeof v === "object" && typeof v.event === "number") {
      out.appendChild(document.createTextNode("the exec "));
      out.appendChild(eventLink(v.event, ""));
      return;
    }
    let shown = typeof v === "number" ? C.strings[v] : JSON.stringify(v);
    try {
      shown = JSON.stringify(JSON.parse(shown), null, 1);
    } catch (error) {
      // not JSON: shown as it is
    }
    appendVisible(out.appendChild(el("pre", "object")), shown);
  }

  function eventLink(i, labelPrefix) {
    const link = el("a", "event-link");
    link.href = "#explorer";
    link.setAttribute("data-event", String(i));
    link.appendChild(document.createTextNode(labelPrefix + formatTime(value("time", i)).slice(11) + " pid " +
      value("pid", i) + " "));
    const argv = list("argv", i);
    if (argv && argv.length) appendArgv(link, argv.slice(0, 6));
    link.addEventListener("click", (e) => {
      e.preventDefault();
      reveal(i);
    });
    return link;
  }

  function renderDetail(i) {
    const box = UI.detail;
    box.replaceChildren();
    box.setAttribute("data-event", String(i));
    const head = el("h3", "", "Event " + formatCount(i + 1) + " of " + formatCount(C.n));
    box.appendChild(head);
    const flags = el("p", "flags");
    if (failed(i)) flags.appendChild(el("span", "badge failed", errnoText(i)));
    if (C.writable[i]) flags.appendChild(el("span", "badge writable", placeText(i)));
    if (T.reexec[i]) flags.appendChild(el("span", "badge reexec", "↳ exec of the same process"));
    if (flags.childNodes.length) box.appendChild(flags);

    const relations = el("div", "relations");
    const parent = T.nodeParent[i];
    const up = el("p");
    up.appendChild(el("span", "rel-label", "Parent: "));
    if (parent >= 0 && parent < C.n) up.appendChild(eventLink(parent, ""));
    else up.appendChild(el("span", "quiet", "not recorded (pid " + value("ppid", i) + ")"));
    relations.appendChild(up);
    const kids = childCount(i);
    const down = el("div");
    down.appendChild(el("span", "rel-label", "Children: " + (kids ? formatCount(kids) : "none")));
    if (kids) {
      const list = el("ul", "children");
      const start = T.childStart[i];
      for (let c = start; c < Math.min(start + CHILD_LINKS, T.childStart[i + 1]); c++) {
        list.appendChild(el("li")).appendChild(eventLink(T.childList[c], ""));
      }
      if (kids > CHILD_LINKS) list.appendChild(el("li", "quiet", "and " + formatCount(kids - CHILD_LINKS) + " more"));
      down.appendChild(list);
    }
    relations.appendChild(down);
    box.appendChild(relations);

    const table = el("dl", "fields");
    for (const field of C.fields) {
      const row = testid(el("div", "field"), "detail-field");
      row.setAttribute("data-field", field.name);
      const name = el("dt", "", field.name);
      if (field.doc) name.title = field.doc;
      row.appendChild(name);
      const dd = el("dd");
      dd.appendChild(detailValue(field.kind, value(field.name, i)));
      row.appendChild(dd);
      table.appendChild(row);
    }
    box.appendChild(table);
    box.scrollTop = 0;
  }

  /* ---------- start ---------- */

  function header(root) {
    const head = el("header", "page-head");
    head.appendChild(el("p", "eyebrow", "exectrail case report"));
    head.appendChild(el("h1", "", document.title));
    const s = C.raw.summary;
    head.appendChild(el("p", "lede", formatCount(s.included) + " executions" +
      (s.first !== null ? " from " + formatTime(s.first) + " to " + formatTime(s.last) + " UTC" : "") +
      ", " + formatCount(s.alarms) + " alarm" + (s.alarms === 1 ? "" : "s") + "."));
    root.appendChild(head);
  }

  function fail(message) {
    const root = document.getElementById("app");
    const line = el("p", "fatal", "This report cannot be shown: " + message);
    root.replaceChildren(line);
    document.body.dataset.ready = "error";
  }

  function main() {
    try {
      C = loadCase();
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
      return;
    }
    try {
      render();
    } catch (error) {
      console.error(error);
      fail("the page failed while drawing the data: " + (error instanceof Error ? error.message : String(error)));
    }
  }

  function render() {
    const root = document.getElementById("app");
    header(root);
    renderSummary(root);
    renderAlarms(root);
    renderTimeline(root);
    buildTree();
    renderExplorer(root);
    T.matchCount = C.n;
    updateMatches();
    flatten();
    drawTimeline();
    drawRows(true);
    let resizeFrame = 0;
    // paper has no scrolling: print the first rows of the tree as it is open (not only those in view)
    window.addEventListener("beforeprint", () => drawRowRange(0, Math.min(T.rows, PRINT_ROWS)));
    window.addEventListener("afterprint", () => drawRows(true));
    window.addEventListener("resize", () => {
      cancelAnimationFrame(resizeFrame);
      resizeFrame = requestAnimationFrame(() => {
        drawTimeline();
        drawRows(false);
      });
    });
    document.body.dataset.renderMs = String(Math.round(performance.now() - started));
    document.body.dataset.ready = "true";
  }

  main();
})();
