/* Read-aloud (朗读本页) for the portal: the browser's own speech synthesis, in zh-CN.
   Reads the main content in sentence-sized pieces (long utterances stop early in some
   browsers). No network, no pop-ups; the button only appears when the browser can speak. */
(function () {
  "use strict";
  var button = document.getElementById("read-aloud");
  if (!button || !("speechSynthesis" in window) || typeof SpeechSynthesisUtterance === "undefined") {
    return;
  }
  var synth = window.speechSynthesis;
  var reading = false;

  function mainText() {
    var main = document.getElementById("main");
    if (!main) return "";
    var clone = main.cloneNode(true);
    clone.querySelectorAll("script, style, [hidden], .visually-hidden, [aria-hidden='true'], input[type=hidden]")
      .forEach(function (el) { el.remove(); });
    return (clone.innerText || clone.textContent || "").replace(/\s+/g, " ").trim();
  }

  function pieces(text) {
    var parts = text.match(/[^。！？；!?;\n]+[。！？；!?;]?/g) || [text];
    return parts.map(function (p) { return p.trim(); }).filter(Boolean);
  }

  function setState(on) {
    reading = on;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? button.dataset.labelStop : button.dataset.labelStart;
  }

  function voice() {
    var voices = synth.getVoices ? synth.getVoices() : [];
    for (var i = 0; i < voices.length; i++) {
      if (/^zh(-|_)CN/i.test(voices[i].lang)) return voices[i];
    }
    return null;
  }

  function read() {
    synth.cancel();
    var list = pieces(mainText());
    if (!list.length) return;
    setState(true);
    var zh = voice();
    list.forEach(function (text, i) {
      var u = new SpeechSynthesisUtterance(text);
      u.lang = "zh-CN";
      u.rate = document.body.classList.contains("elder") ? 0.85 : 1;
      if (zh) u.voice = zh;
      if (i === list.length - 1) {
        u.onend = function () { setState(false); };
        u.onerror = function () { setState(false); };
      }
      synth.speak(u);
    });
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    if (reading) {
      synth.cancel();
      setState(false);
    } else {
      read();
    }
  });
  window.addEventListener("pagehide", function () { synth.cancel(); });
})();
