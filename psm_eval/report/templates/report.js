"use strict";
// psm_eval report: sortable tables and the lazy sample browser. Data is read from the inert JSON
// block and only ever reaches the page through textContent (never innerHTML).
(function () {
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v) { return v === null || v === undefined ? "–" : (Math.abs(v) < 1e4 ? Number(v.toPrecision(3)) : v.toExponential(3)).toString(); }

  document.querySelectorAll("[data-color]").forEach(function (e) { e.style.backgroundColor = e.getAttribute("data-color"); });

  // sortable tables: click a header to sort by that column (numbers numerically)
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
        th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v") || a.cells[col].textContent, y = b.cells[col].getAttribute("data-v") || b.cells[col].textContent;
          var nx = parseFloat(x.replace(/^\[/, "")), ny = parseFloat(y.replace(/^\[/, ""));
          if (!isNaN(nx) && !isNaN(ny)) return dir * (nx - ny);
          return dir * x.localeCompare(y);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // compare page: "changed only" hides the rows whose difference is not a change
  var onlyChanged = document.getElementById("f-changed");
  if (onlyChanged) {
    onlyChanged.addEventListener("change", function () {
      document.querySelectorAll("#comparison tbody tr").forEach(function (tr) {
        tr.hidden = onlyChanged.checked && !tr.classList.contains("changed");
      });
    });
  }

  var node = document.getElementById("psm-data");
  if (!node) return;
  var D = JSON.parse(node.textContent);
  window.psmReport = { data: D };
  var R = { task: 0, id: 1, arm: 2, turn: 3, rep: 4, status: 5, prefix: 6, prompt: 7, reply: 8, error: 9, scores: 10,
            unscored: 11, judge: 12, detail: 13, whole: 14 };

  // A sample is one (task, id, turn, repeat) — a rollout's turns stay together as one transcript.
  var groups = [], byKey = {};
  D.rows.forEach(function (r) {
    var ti = typeof r[R.task] === "number" ? r[R.task] : D.tasks.indexOf(r[R.task]);
    var rollout = D.modes[ti] === "rollout";
    var turn = rollout ? "all" : r[R.turn];
    var key = ti + "\u0000" + r[R.id] + "\u0000" + turn + "\u0000" + r[R.rep];
    var g = byKey[key];
    if (!g) {
      var info = D.info[ti + "/" + r[R.id]] || null;
      g = byKey[key] = { ti: ti, task: D.tasks[ti], id: r[R.id], turn: turn, rep: r[R.rep], rollout: rollout,
                         info: info, rows: [], text: "" };
      g.question = info && info.q.length ? (rollout ? info.q[0] : info.q[Math.min(r[R.turn], info.q.length - 1)]) : "";
      // no task folder: the end of the prompt, less its trailing speaker label
      if (!g.question) g.question = r[R.prompt].slice(-200).replace(/\s*[\w ]{1,20}:\s*$/, "").replace(/\s+/g, " ").trim().slice(-160);
      g.text = r[R.id] + "\n" + g.question + "\n" + (info ? info.refs.join("\n") : "");
      groups.push(g);
    }
    g.rows.push(r);
    g.text += "\n" + r[R.prompt] + "\n" + r[R.reply] + "\n" + r[R.error];
  });
  groups.forEach(function (g) {
    g.lower = g.text.toLowerCase(); g.text = null;
    g.rows.sort(function (a, b) { return a[R.turn] - b[R.turn] || a[R.arm] - b[R.arm]; });
  });

  var q = document.getElementById("q"), fTask = document.getElementById("f-task"), fMetric = document.getElementById("f-metric");
  var fDis = document.getElementById("f-disagree"), fFail = document.getElementById("f-fail"), sortSel = document.getElementById("sort");
  var armA = document.getElementById("arm-a"), armB = document.getElementById("arm-b"), metaBox = document.getElementById("meta-filters");
  var tbody = document.getElementById("rows"), count = document.getElementById("count"), more = document.getElementById("more");
  var detail = document.getElementById("detail"), placeholder = detail.firstElementChild;
  D.tasks.forEach(function (t) { var o = el("option", t); o.value = t; fTask.appendChild(o); });
  D.scores.forEach(function (s, i) { var o = el("option", s); o.value = String(i); fMetric.appendChild(o); });
  D.arms.forEach(function (a, i) {
    [armA, armB].forEach(function (sel) { var o = el("option", a); o.value = String(i); sel.appendChild(o); });
  });
  var defA = D.arms.indexOf(D.baseline), defB = D.arms.indexOf(D.target);
  if (defA < 0) defA = 0;
  if (defB < 0) defB = D.arms.length > 1 ? (defA === 0 ? 1 : 0) : defA;
  armA.value = String(defA); armB.value = String(defB);

  // metadata filters: one select per metadata key with a few distinct scalar values
  var metaValues = {};
  Object.keys(D.info).forEach(function (k) {
    var meta = D.info[k].meta || {};
    Object.keys(meta).forEach(function (m) {
      var v = meta[m];
      if (v === null || typeof v === "object") return;
      (metaValues[m] = metaValues[m] || {})[String(v)] = true;
    });
  });
  var metaSelects = [];
  Object.keys(metaValues).sort().forEach(function (m) {
    var vals = Object.keys(metaValues[m]).sort();
    if (vals.length < 2 || vals.length > 40) return;
    var sel = el("select"); sel.setAttribute("aria-label", m); sel.setAttribute("data-meta", m);
    var any = el("option", m + ": any"); any.value = ""; sel.appendChild(any);
    vals.forEach(function (v) { var o = el("option", m + " = " + v); o.value = v; sel.appendChild(o); });
    metaBox.appendChild(sel); metaSelects.push(sel);
  });

  function armRows(g, a) { return g.rows.filter(function (r) { return r[R.arm] === a; }); }
  // the values of metric m for arm a (one per turn; a whole-sample score once)
  function armValues(g, a, m) {
    var out = [];
    armRows(g, a).forEach(function (r) {
      if (!r[R.scores].hasOwnProperty(m)) return;
      if (r[R.whole].indexOf(Number(m)) >= 0 && out.length) return;
      out.push({ turn: r[R.turn], v: r[R.scores][m] });
    });
    return out;
  }
  // A and B disagree on m: at some turn both have a value and the values differ (unscored is not a value)
  function differs(g, a, b, m) {
    var bv = {};
    armValues(g, b, m).forEach(function (x) { bv[x.turn] = x.v; });
    return armValues(g, a, m).some(function (x) {
      return x.v !== null && bv.hasOwnProperty(x.turn) && bv[x.turn] !== null && bv[x.turn] !== x.v;
    });
  }
  function disagree(g, a, b, m) {
    if (m !== "") return differs(g, a, b, m);
    var names = {};
    g.rows.forEach(function (r) { Object.keys(r[R.scores]).forEach(function (k) { names[k] = true; }); });
    return Object.keys(names).some(function (k) { return differs(g, a, b, k); });
  }
  function mean(vals) {
    var v = vals.filter(function (x) { return x.v !== null; }).map(function (x) { return x.v; });
    return v.length ? v.reduce(function (s, x) { return s + x; }, 0) / v.length : null;
  }
  function failed(g) { return g.rows.some(function (r) { return r[R.status] !== "ok" || Object.keys(r[R.unscored]).length > 0; }); }
  function natural(a, b) { return String(a).localeCompare(String(b), undefined, { numeric: true }); }
  function byTaskId(a, b) { return natural(a.task, b.task) || natural(a.id, b.id) || natural(a.turn, b.turn) || a.rep - b.rep; }

  var shown = [], limit = 200, current = null, focusIdx = -1;
  function apply() {
    var text = q.value.toLowerCase(), task = fTask.value, m = fMetric.value, a = Number(armA.value), b = Number(armB.value);
    var metas = metaSelects.filter(function (s) { return s.value !== ""; });
    shown = groups.filter(function (g) {
      if (task && g.task !== task) return false;
      if (m !== "" && !g.rows.some(function (r) { return r[R.scores].hasOwnProperty(m); })) return false;
      if (fDis.checked && !disagree(g, a, b, m)) return false;
      if (fFail.checked && !failed(g)) return false;
      if (metas.some(function (s) { var meta = g.info && g.info.meta; return !meta || String(meta[s.getAttribute("data-meta")]) !== s.value; })) return false;
      return !text || g.lower.indexOf(text) >= 0;
    });
    var s = sortSel.value;
    function key(g) {
      if (s === "value") { var v = mean(armValues(g, a, m)); return v === null ? -Infinity : v; }
      if (s === "spread") { var x = mean(armValues(g, a, m)), y = mean(armValues(g, b, m)); return x === null || y === null ? -Infinity : Math.abs(x - y); }
      return Math.max.apply(null, g.rows.map(function (r) { return r[R.reply].length; }));
    }
    if (s === "id") shown.sort(byTaskId);
    else { shown.forEach(function (g) { g.k = key(g); }); shown.sort(function (x, y) { return (y.k - x.k) || byTaskId(x, y); }); }
    limit = 200; focusIdx = -1;
    draw();
  }
  function chip(g, a, m) {
    var rows = armRows(g, a);
    if (!rows.length) return el("span", "—", "chip none");
    if (m === "") {
      var bad = rows.some(function (r) { return r[R.status] !== "ok"; });
      return el("span", bad ? "failed" : "ok", "chip " + (bad ? "fail" : "pass"));
    }
    var vals = armValues(g, a, m), v = mean(vals), dir = D.directions[Number(m)];
    if (!vals.length) return el("span", "·", "chip none");
    if (v === null) return el("span", "unscored", "chip fail");
    var binary = vals.every(function (x) { return x.v === null || x.v === 0 || x.v === 1; });
    var cls = "none";
    if (binary && (dir === "higher" || dir === "lower")) cls = (v === 1) === (dir === "higher") ? "pass" : (v === 0) === (dir === "higher") ? "fail" : "mixed";
    return el("span", fmt(v) + (vals.length > 1 ? " (" + vals.length + " turns)" : ""), "chip " + cls);
  }
  function draw() {
    tbody.textContent = "";
    var m = fMetric.value, a = Number(armA.value), b = Number(armB.value);
    document.getElementById("col-a").textContent = "A: " + D.arms[a];
    document.getElementById("col-b").textContent = "B: " + D.arms[b];
    shown.slice(0, limit).forEach(function (g, i) {
      var tr = el("tr");
      tr.setAttribute("data-sample", g.id);
      tr.setAttribute("tabindex", "0");
      tr.setAttribute("aria-controls", "detail");
      tr.setAttribute("aria-label", g.task + " " + g.id + ": " + g.question);
      if (g === current) { tr.className = "open"; tr.setAttribute("aria-current", "true"); }
      tr.appendChild(el("td", g.task)); tr.appendChild(el("td", g.id + (g.rollout ? " (rollout)" : g.turn ? " t" + g.turn : "") + (g.rep ? " r" + g.rep : "")));
      tr.appendChild(el("td", g.question, "question"));
      var ca = el("td"); ca.appendChild(chip(g, a, m)); tr.appendChild(ca);
      var cb = el("td"); cb.appendChild(chip(g, b, m)); tr.appendChild(cb);
      tr.addEventListener("click", function () { focusIdx = i; location.hash = link(g); });
      tr.addEventListener("focus", function () { focusIdx = i; });
      tbody.appendChild(tr);
    });
    count.textContent = shown.length + " of " + groups.length + " shown";
    more.hidden = shown.length <= limit;
  }
  function link(g) {
    var ambiguous = groups.some(function (o) { return o.id === g.id && o !== g; });
    return "#sample-" + (ambiguous ? encodeURIComponent(g.task) + "/" + encodeURIComponent(g.id) + "/" + g.turn + "/" + g.rep : encodeURIComponent(g.id));
  }
  function pretty(v) {
    var text = typeof v === "string" ? v : JSON.stringify(v);
    return text.length > 4000 ? text.slice(0, 4000) + " …" : text;
  }
  function scoreTable(rows, only) {
    var st = el("table", null, "scores");
    rows.forEach(function (r) {
      Object.keys(r[R.scores]).forEach(function (k) {
        if (only && !only(r, k)) return;
        var tr = el("tr"), v = r[R.scores][k];
        tr.appendChild(el("td", D.scores[k]));
        tr.appendChild(el("td", v === null ? "unscored: " + (r[R.unscored][k] || "") : fmt(v)));
        var det = r[R.detail][k], dc = el("td", null, "score-detail");
        if (det) Object.keys(det).forEach(function (dk) { dc.appendChild(el("div", dk + ": " + pretty(det[dk]))); });
        tr.appendChild(dc);
        st.appendChild(tr);
      });
    });
    return st;
  }
  function armBox(g, a) {
    var rows = armRows(g, a), box = el("div", null, "arm");
    box.style.borderTopColor = D.colors[a];
    box.setAttribute("data-arm", D.arms[a]);
    box.appendChild(el("b", D.arms[a])); box.appendChild(el("span", "  " + D.renderers[a], "muted"));
    if (!rows.length) { box.appendChild(el("p", "no reply from this arm", "muted")); return box; }
    var last = rows[rows.length - 1];
    var det = el("details"); det.appendChild(el("summary", "exact prompt" + (g.rollout ? " of the last turn" : "") + " (" + (D.prefixes[last[R.prefix]].length + last[R.prompt].length) + " chars)"));
    det.appendChild(el("pre", D.prefixes[last[R.prefix]] + last[R.prompt])); box.appendChild(det);
    if (g.rollout) {
      var tr = el("div", null, "transcript");
      rows.forEach(function (r) {
        var turn = el("div", null, "turn");
        var qs = g.info ? g.info.q : [];
        turn.appendChild(el("div", "User (turn " + r[R.turn] + ")", "who"));
        turn.appendChild(el("pre", qs[r[R.turn]] !== undefined ? qs[r[R.turn]] : "(user turn not available)", "user"));
        turn.appendChild(el("div", D.arms[a] + (r[R.status] === "ok" ? "" : " — " + r[R.status]), r[R.status] === "ok" ? "who" : "who fail"));
        turn.appendChild(el("pre", r[R.reply]));
        if (r[R.error]) turn.appendChild(el("pre", r[R.error], "fail"));
        turn.appendChild(scoreTable([r], function (x, k) { return x[R.whole].indexOf(Number(k)) < 0; }));
        tr.appendChild(turn);
      });
      box.appendChild(tr);
      box.appendChild(el("div", "whole-transcript scores", "muted"));
      box.appendChild(scoreTable([rows[0]], function (x, k) { return x[R.whole].indexOf(Number(k)) >= 0; }));
    } else {
      var r = rows[0];
      box.appendChild(el("div", "reply" + (r[R.status] === "ok" ? "" : " — " + r[R.status]), r[R.status] === "ok" ? "muted" : "fail"));
      box.appendChild(el("pre", r[R.reply]));
      if (r[R.error]) box.appendChild(el("pre", r[R.error], "fail"));
      box.appendChild(scoreTable([r]));
    }
    rows.forEach(function (r) {
      r[R.judge].forEach(function (j) { var d2 = el("details"); d2.appendChild(el("summary", "judge rationale")); d2.appendChild(el("pre", j)); box.appendChild(d2); });
    });
    return box;
  }
  function infoBox(g) {
    var box = el("div", null, "sample-info");
    if (!g.info) {
      box.appendChild(el("p", "References and metadata are not available for this sample" + (D.notes.length ? " (" + D.notes.join("; ") + ")" : "") + ".", "muted"));
      return box;
    }
    var qs = g.info.q;
    box.appendChild(el("div", g.rollout ? "user turns" : "question", "label"));
    if (g.rollout) { var ol = el("ol", null, "questions"); qs.forEach(function (x) { ol.appendChild(el("li", x)); }); box.appendChild(ol); }
    else box.appendChild(el("pre", g.question, "user"));
    if (g.info.refs.length) {
      box.appendChild(el("div", "reference answers", "label"));
      var ul = el("ul", null, "refs"); g.info.refs.forEach(function (x) { ul.appendChild(el("li", x)); }); box.appendChild(ul);
    }
    if (g.info.choices.length) {
      box.appendChild(el("div", "choices", "label"));
      var cl = el("ol", null, "choices");
      g.info.choices.forEach(function (x, i) { cl.appendChild(el("li", x + (i === g.info.gold ? "  ✓ gold" : ""), i === g.info.gold ? "gold" : "")); });
      box.appendChild(cl);
    }
    var meta = g.info.meta || {}, keys = Object.keys(meta);
    if (keys.length) {
      box.appendChild(el("div", "metadata", "label"));
      var mt = el("table", null, "meta");
      keys.forEach(function (k) { var tr = el("tr"); tr.appendChild(el("th", k)); tr.appendChild(el("td", pretty(meta[k]))); mt.appendChild(tr); });
      box.appendChild(mt);
    }
    return box;
  }
  function open(g, scroll) {
    current = g;
    detail.textContent = "";
    var a = Number(armA.value), b = Number(armB.value);
    var h = el("h3", g.task + " / " + g.id + (g.rollout ? "  (rollout, repeat " + g.rep + ")" : g.turn || g.rep ? "  (turn " + g.turn + ", repeat " + g.rep + ")" : ""));
    h.id = "open-sample";
    detail.appendChild(h);
    detail.appendChild(infoBox(g));
    var grid = el("div", null, "arms");
    grid.appendChild(armBox(g, a));
    if (b !== a) grid.appendChild(armBox(g, b));
    detail.appendChild(grid);
    var others = [];
    g.rows.forEach(function (r) { if (r[R.arm] !== a && r[R.arm] !== b && others.indexOf(r[R.arm]) < 0) others.push(r[R.arm]); });
    if (others.length) {
      var od = el("details", null, "other-arms"); od.appendChild(el("summary", "other arms (" + others.length + ")"));
      var og = el("div", null, "arms"); others.forEach(function (x) { og.appendChild(armBox(g, x)); }); od.appendChild(og);
      detail.appendChild(od);
    }
    draw();
    if (scroll !== false) detail.scrollIntoView();
  }
  function close() {
    current = null;
    detail.textContent = "";
    detail.appendChild(placeholder);
    if (location.hash.indexOf("#sample-") === 0) history.replaceState(null, "", location.pathname + location.search);
    draw();
    focusRow(focusIdx < 0 ? 0 : focusIdx);
  }
  function focusRow(i) {
    var rows = tbody.rows;
    if (!rows.length) return;
    focusIdx = Math.max(0, Math.min(i, rows.length - 1));
    rows[focusIdx].focus();
  }
  function route() {
    var h = location.hash;
    if (h.indexOf("#sample-") !== 0) return;
    var parts = h.slice(8).split("/").map(function (p) { try { return decodeURIComponent(p); } catch (e) { return p; } });
    var g = parts.length >= 4
      ? groups.filter(function (o) { return o.task === parts[0] && o.id === parts[1] && String(o.turn) === parts[2] && String(o.rep) === parts[3]; })[0]
      : groups.filter(function (o) { return o.id === parts.join("/"); })[0];
    if (g) open(g, !keyboard); else { detail.textContent = ""; detail.appendChild(el("p", "no sample " + parts.join("/") + " in this report", "fail")); }
    keyboard = false;
  }
  var keyboard = false;
  document.addEventListener("keydown", function (e) {
    var t = e.target, tag = t && t.tagName;
    if (e.key === "Escape") { if (current) { e.preventDefault(); close(); } return; }
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    var inList = t && t.parentNode === tbody;
    if (e.key === "j" || e.key === "ArrowDown" || e.key === "k" || e.key === "ArrowUp") {
      if ((e.key === "ArrowDown" || e.key === "ArrowUp") && !inList) return;  // arrows scroll the page elsewhere
      e.preventDefault();
      var step = e.key === "j" || e.key === "ArrowDown" ? 1 : -1;
      focusRow(focusIdx < 0 ? 0 : focusIdx + step);
      if (current && shown[focusIdx]) { keyboard = true; location.hash = link(shown[focusIdx]); }
    } else if (e.key === "Enter" && inList) {
      e.preventDefault();
      var g = shown[Array.prototype.indexOf.call(tbody.rows, t)];
      if (g) { keyboard = true; if (location.hash === link(g)) route(); else location.hash = link(g); }
    }
  });
  [q, fTask, fMetric, fDis, fFail, sortSel, armA, armB].concat(metaSelects).forEach(function (c) {
    c.addEventListener(c === q ? "input" : "change", function () { apply(); if (current && (c === armA || c === armB)) open(current, false); });
  });
  more.addEventListener("click", function () { limit += 500; draw(); });
  window.addEventListener("hashchange", route);
  apply();
  route();
})();
