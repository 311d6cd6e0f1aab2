// alertgate console: the only script of the pages (no inline script: the CSP forbids it).
// 1. The queue refreshes its rows when the server says it changed (server-sent events).
// 2. SLA clocks turn amber before the deadline and red at it, without a reload.
"use strict";

(function () {
  var WARN_SHARE = 0.2; // as tickets/queue.py

  function tickClocks() {
    var now = Date.now();
    document.querySelectorAll(".clock[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      var minutes = parseFloat(el.getAttribute("data-minutes") || "0");
      if (isNaN(due)) { return; }
      var left = due - now;
      el.classList.remove("ok", "warning", "breached");
      if (left <= 0) { el.classList.add("breached"); }
      else if (minutes > 0 && left < WARN_SHARE * minutes * 60000) { el.classList.add("warning"); }
      else { el.classList.add("ok"); }
    });
  }

  function followQueue() {
    var rows = document.getElementById("queue-rows");
    if (!rows || !window.EventSource) { return; }
    var live = document.getElementById("live");
    var loading = false;
    function refresh() {
      if (loading) { return; }
      loading = true;
      fetch(rows.getAttribute("data-rows"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
        .then(function (html) {
          // The server rendered (and escaped) these rows; parse them as a table body.
          var doc = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
          rows.replaceChildren.apply(rows, Array.from(doc.querySelector("tbody").children));
          rows.setAttribute("data-refreshed", String(Date.now()));
          if (live) { live.textContent = live.getAttribute("data-updated") || live.textContent; }
          tickClocks();
        })
        .catch(function () { /* the next event tries again */ })
        .finally(function () { loading = false; });
    }
    var events = new EventSource("/console/events");
    events.addEventListener("queue", refresh);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickClocks();
    setInterval(tickClocks, 15000);
    followQueue();
  });
})();
