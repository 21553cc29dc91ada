// closedloop console: small progressive enhancements; every page works without it.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var p = t.closest("[data-print]");
    if (p) { e.preventDefault(); window.print(); return; }
  });
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      e.preventDefault();
    }
  });
})();
