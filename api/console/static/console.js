// Live updates of the approvals page: the server says over SSE when the pending set changed,
// and the rows are fetched again. Without JS the page works as plain forms.
(function () {
  "use strict";
  var body = document.getElementById("pending");
  var live = document.getElementById("live");
  if (!body || !window.EventSource) return;
  var es = new EventSource("/console/events");
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/console/approvals/rows", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var keep = {};
        body.querySelectorAll("input").forEach(function (i) {
          keep[i.id] = i.type === "checkbox" ? i.checked : i.value;
        });
        var focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.id : "";
        body.innerHTML = html; // server-rendered by html/template: escaped
        body.querySelectorAll("input").forEach(function (i) {
          if (!(i.id in keep)) return;
          if (i.type === "checkbox") i.checked = keep[i.id]; else i.value = keep[i.id];
        });
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        if (live) live.textContent = "(updated " + new Date().toLocaleTimeString() + ")";
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  function shown() {
    return Array.prototype.map.call(body.querySelectorAll("tr[data-id]"), function (r) { return r.getAttribute("data-id"); }).join(",");
  }
  // Refresh only when the pending set differs from the rows on screen: a refresh replaces the
  // rows, and doing it for nothing would steal the focus of someone typing a reason.
  es.addEventListener("approvals", function (ev) { if (ev.data !== shown()) refresh(); });
  es.addEventListener("signedout", function () { es.close(); window.location = "/console/login"; });
})();
