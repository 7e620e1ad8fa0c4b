// Live page: polls /api/live (streams in flight) and /api/streams (finished) every second and rebuilds the two
// tables with text nodes only. A stream leaves the first table when its span arrives and shows up in the second.
// The rate now and "stalled for N s" come from the server (query.live_rate / live_stalled_for), measured up to the
// moment of the poll.
(function () {
  "use strict";
  var POLL_MS = 1000;

  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    if (s < 1) return (s * 1000).toFixed(s < 0.1 ? 1 : 0) + " ms";
    if (s < 120) return s.toFixed(2) + " s";
    return (s / 60).toFixed(1) + " min";
  }
  function fmtTime(t) { return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23) + "Z"; }
  function fmtNum(n, digits) {
    if (n === null || n === undefined || !isFinite(n)) return "–";
    return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(digits === undefined ? 1 : digits);
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function traceLink(row, traceId) {
    var td = cell(row, "", "mono");
    var a = document.createElement("a");
    a.href = "/traces/" + encodeURIComponent(traceId);
    a.textContent = String(traceId).slice(0, 12);
    td.appendChild(a);
  }
  function fill(tbody, items, columns, emptyText) {
    var rows = items.map(function (item) {
      var tr = document.createElement("tr");
      tr.dataset.spanId = item.span_id;
      columns(tr, item);
      return tr;
    });
    if (!rows.length) {
      var tr = document.createElement("tr");
      tr.className = "empty-row";
      var td = cell(tr, emptyText, "empty");
      td.colSpan = tbody.parentElement.querySelectorAll("thead th").length;
      rows.push(tr);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  // the page's own filters (session, user) apply to both lists
  function finishedQuery() {
    var q = new URLSearchParams(window.location.search);
    q.set("limit", "20");
    return q.toString();
  }

  function poll() {
    var live = fetch("/api/live" + window.location.search).then(function (r) { return r.json(); }).then(function (data) {
      fill(document.querySelector("#live tbody"), data.live || [], function (tr, s) {
        cell(tr, fmtTime(s.start)); cell(tr, s.model || "–"); cell(tr, s.service || "–");
        cell(tr, fmtNum(s.chunk_count), "num chunks"); cell(tr, fmtDuration(s.elapsed), "num");
        cell(tr, fmtNum(s.chunks_per_second), "num rate");
        var last = cell(tr, "", "num last");
        if (typeof s.stalled_for === "number" && isFinite(s.stalled_for)) {
          // silent for longer than the stall threshold, allowing for the export lag (the server decides)
          var stalled = document.createElement("span");
          stalled.className = "badge stalled";
          stalled.textContent = "stalled for " + s.stalled_for.toFixed(1) + " s";
          last.appendChild(stalled);
          tr.classList.add("stalled");
        } else {
          last.textContent = fmtDuration(s.last_chunk_age) + " ago";
        }
        // no link yet: the trace page opens once the trace's spans have arrived (the finished row links to it)
        var td = cell(tr, String(s.trace_id).slice(0, 12), "mono");
        td.title = "the trace page opens once the trace's spans have arrived";
      }, "Nothing is streaming right now.");
    });
    var done = fetch("/api/streams?" + finishedQuery()).then(function (r) { return r.json(); }).then(function (data) {
      fill(document.querySelector("#finished tbody"), data.streams || [], function (tr, s) {
        cell(tr, fmtTime(s.start)); cell(tr, s.model || "–"); cell(tr, s.service || "–");
        var td = cell(tr, "");
        var badge = document.createElement("span");
        badge.className = "badge outcome-" + (["completed", "abandoned", "cancelled", "error", "timeout"].indexOf(s.outcome) >= 0 ? s.outcome : "other");
        badge.textContent = s.outcome || "–";
        td.appendChild(badge);
        cell(tr, fmtNum(s.chunk_count), "num"); cell(tr, fmtDuration(s.duration), "num");
        traceLink(tr, s.trace_id);
      }, "No finished streams yet.");
    });
    Promise.all([live, done])
      .then(function () { document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1); })
      .catch(function (err) { console.warn("live:", err.message); })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }

  window.setTimeout(poll, POLL_MS);
})();
