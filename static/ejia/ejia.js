/* Behaviour every page shares, declared in the markup with data- attributes, because the
   Content-Security-Policy runs no inline script (onsubmit=…) and applies no style attribute:
   - <form data-confirm="问题？">       asks before sending;
   - <form data-submit-once>           sends once: a double click makes one request;
   - <select data-autosubmit>          sends its form when the choice changes;
   - <div class="progress-bar" data-width="37">  is drawn 37 % wide (also after htmx swaps it in).
   - <details data-fold>               is folded on a phone and opened on a wide screen (≥992 px);
   Plain JS, no dependencies. */
(function () {
  "use strict";

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); return; }
    if (form.hasAttribute("data-submit-once")) {
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
      // After this event: a button disabled now would leave its name out of the form data.
      form.querySelectorAll("[type=submit]").forEach(function (b) { setTimeout(function () { b.disabled = true; }, 0); });
    }
  });

  document.addEventListener("change", function (e) {
    var field = e.target;
    if (!field.hasAttribute || !field.hasAttribute("data-autosubmit") || !field.form) return;
    if (field.form.requestSubmit) field.form.requestSubmit();
    else field.form.submit();
  });

  // Setting a width through the CSSOM is allowed by style-src 'self'; a style="" attribute is not.
  var BAR = ".progress-bar[data-width]";
  function drawProgress(root) {
    var bars = Array.prototype.slice.call(root.querySelectorAll(BAR));
    if (root.matches && root.matches(BAR)) bars.push(root);
    bars.forEach(function (bar) {
      var percent = Math.max(0, Math.min(100, parseFloat(bar.getAttribute("data-width")) || 0));
      bar.style.width = percent + "%";
    });
  }

  document.addEventListener("htmx:load", function (e) { drawProgress(e.detail.elt); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawProgress(document); });
  else drawProgress(document);
  // A long page (the case file) folds its details on a phone, so the summary comes first;
  // a wide screen has room for all of it. Opened once at load: a fold the user closes stays closed.
  if (window.matchMedia && window.matchMedia("(min-width: 992px)").matches) {
    document.querySelectorAll("details[data-fold]").forEach(function (d) { d.open = true; });
  }
})();
