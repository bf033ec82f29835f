/* Sentinelle console: shows times in the viewer's zone (UTC stays in the title, on hover),
   runs the 72-hour countdowns, and ticks every box of a list at once. No dependency, no
   network; the pages work without it (times in UTC, the countdown as of the page's load). */
"use strict";
(function () {
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };

  function localTimes() {
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t)) { return; }
      el.textContent = t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) +
        " " + pad(t.getHours()) + ":" + pad(t.getMinutes());
      el.title = el.getAttribute("datetime") + " (UTC)";
    });
  }

  function left(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (d ? d + " d " : "") + pad(h) + ":" + pad(m) + ":" + pad(sec);
  }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(due)) { return; }
      var ms = due - now;
      el.textContent = ms >= 0 ? left(ms) + " left" : "overdue by " + left(ms);
      el.classList.toggle("overdue", ms < 0);
    });
  }

  function tickAll() {
    document.querySelectorAll("input[data-check-all]").forEach(function (box) {
      box.hidden = false;
      box.addEventListener("change", function () {
        var form = document.getElementById(box.getAttribute("data-check-all"));
        if (!form) { return; }
        form.querySelectorAll("input[type=checkbox][name=ids]").forEach(function (b) {
          b.checked = box.checked;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    tickAll();
    if (document.querySelector("[data-deadline]")) {
      countdowns();
      setInterval(countdowns, 1000);
    }
  });
})();
