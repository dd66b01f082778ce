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
