/* The staff session's clock (ejia/accounts/sessions.py). The server ends a staff session after
   EJIA_SESSION_IDLE_MINUTES without work and 8 hours after the login, whatever the activity.
   Two minutes before either, a warning shows; its "继续工作" button tells the server the person
   is still there (POST, which counts as activity) and hides the warning. Requests htmx makes
   while the person works carry the server's new remaining time back in X-Ejia-Session-Left;
   polls marked X-Ejia-Background do not count as work. When the time is up another tab may
   have kept the session alive: ask first (a background GET), and only then reload, which leads
   to the login page with the reason.
   Markup: <div id="session-clock" data-idle-left data-absolute-left data-url hidden>…</div>. */
(function () {
  "use strict";

  var box = document.getElementById("session-clock");
  if (!box) return;
  var WARN_MS = 120 * 1000;
  var url = box.getAttribute("data-url");
  var idleEnd = 0, absoluteEnd = 0, timer = null;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  function set(idleLeft, absoluteLeft) {
    var now = Date.now();
    if (!isNaN(idleLeft)) idleEnd = now + idleLeft * 1000;
    if (!isNaN(absoluteLeft)) absoluteEnd = now + absoluteLeft * 1000;
    schedule();
  }

  function clock(ms) {
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function show(end, absolute) {
    box.querySelector("[data-role=idle]").hidden = absolute;
    box.querySelector("[data-role=absolute]").hidden = !absolute;
    box.querySelector("[data-role=extend]").hidden = absolute;
    box.querySelectorAll("[data-role=at]").forEach(function (t) { t.textContent = clock(end); });
    box.hidden = false;
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    var end = Math.min(idleEnd, absoluteEnd);
    var left = end - Date.now();
    if (left <= 0) { ask(); return; }
    if (left <= WARN_MS) show(end, absoluteEnd <= idleEnd);
    else box.hidden = true;
    timer = setTimeout(schedule, Math.min(left, Math.max(1000, left - WARN_MS)));
  }

  function answer(response) {
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  // Time is up here; another tab may have worked meanwhile.
  function ask() {
    fetch(url, { headers: { "X-Ejia-Background": "1", "Accept": "application/json" }, credentials: "same-origin", redirect: "manual" })
      .then(answer)
      .then(function (s) { if (s.idle_left > 0 && s.absolute_left > 0) set(s.idle_left, s.absolute_left); else window.location.reload(); })
      .catch(function () { window.location.reload(); });
  }

  box.querySelector("[data-role=extend]").addEventListener("click", function () {
    fetch(url, { method: "POST", headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }, credentials: "same-origin", redirect: "manual" })
      .then(answer)
      .then(function (s) { set(s.idle_left, s.absolute_left); })
      .catch(function () { window.location.reload(); });
  });

  document.body.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail && e.detail.xhr;
    var left = xhr && xhr.getResponseHeader("X-Ejia-Session-Left");
    if (left !== null && left !== undefined && left !== "") set(parseFloat(left), NaN);
  });

  set(parseFloat(box.getAttribute("data-idle-left")), parseFloat(box.getAttribute("data-absolute-left")));
})();
