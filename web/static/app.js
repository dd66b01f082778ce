// Lucarne dashboard enhancements. Everything works without this file; it only adds
// a hover tooltip to the chart (the SVG already carries a <title> per bucket).
(function () {
  "use strict";
  function init() {
    var chart = document.querySelector("svg.chart");
    if (!chart) return;
    var tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    tip.setAttribute("role", "status");
    document.body.appendChild(tip);
    var active = null;
    chart.querySelectorAll("g.pt").forEach(function (g) {
      var t = g.querySelector("title");
      if (!t) return;
      var text = t.textContent;
      g.setAttribute("data-tip", text);
      t.remove(); // the custom tooltip replaces the browser's one
      g.addEventListener("mousemove", function (e) {
        if (active && active !== g) active.classList.remove("active");
        active = g;
        g.classList.add("active");
        tip.textContent = text;
        tip.hidden = false;
        var x = Math.min(e.clientX + 12, window.innerWidth - tip.offsetWidth - 8);
        tip.style.left = x + "px";
        tip.style.top = (e.clientY + 12) + "px";
      });
      g.addEventListener("mouseleave", function () {
        g.classList.remove("active");
        tip.hidden = true;
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// Links view (dashboard/links.rs): copy buttons for short URLs (hidden until this
// script shows them) and forms that ask before they act (`data-confirm`, e.g. delete).
(function () {
  "use strict";
  function copyWithSelection(text) {
    var t = document.createElement("textarea");
    t.value = text;
    t.setAttribute("readonly", "");
    t.className = "copy-buffer";
    document.body.appendChild(t);
    t.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    t.remove();
    return ok;
  }
  function init() {
    document.querySelectorAll("button.copy-btn[data-copy]").forEach(function (b) {
      var label = b.textContent;
      b.hidden = false;
      b.addEventListener("click", function () {
        var text = b.getAttribute("data-copy") || "";
        var done = function () {
          b.textContent = b.getAttribute("data-done") || label;
          b.classList.add("done");
          setTimeout(function () { b.textContent = label; b.classList.remove("done"); }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () {
            if (copyWithSelection(text)) done();
          });
        } else if (copyWithSelection(text)) {
          done();
        }
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// The overview's current visitors (`data-realtime`: its JSON address), refreshed every
// 30 seconds while the page is visible.
(function () {
  "use strict";
  function init() {
    var el = document.querySelector("[data-realtime]");
    if (!el || !window.fetch) return;
    var n = el.querySelector(".n");
    var url = el.getAttribute("data-realtime");
    function refresh() {
      if (document.visibilityState === "hidden") return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (j && typeof j.visitors === "number") n.textContent = j.visitors.toLocaleString(document.documentElement.lang || undefined);
        })
        .catch(function () {});
    }
    setInterval(refresh, 30000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
