// indexd web UI: optional enhancements only; every page works without JS.
"use strict";
document.addEventListener("click", function (ev) {
  var b = ev.target.closest("[data-copy]");
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function () {
    var old = b.textContent;
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = old; }, 1500);
  });
});
// Live counts on the network page.
(function () {
  if (!document.querySelector("[data-live]")) return;
  function set(key, v) {
    var el = document.querySelector('[data-live="' + key + '"]');
    if (el) el.textContent = String(v);
  }
  function poll() {
    fetch("/api/v1/status", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (st) {
      if (!st) return;
      set("peers", st.peers);
      (st.indexes || []).forEach(function (i) {
        set("entries-" + i.key, i.entries);
        set("authors-" + i.key, i.authors);
        var el = document.querySelector('[data-live="sync-' + i.key + '"]');
        if (!el) return;
        var c = i.catch_up, u = i.unindexed_nodes || 0;
        el.hidden = !c && !u;
        el.textContent = c ? "syncing · about " + c.remaining_nodes + " to go" : u ? "indexing · " + u + " to go" : "";
      });
    }).catch(function () {});
  }
  setInterval(poll, 10000);
})();
