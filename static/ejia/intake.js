/* Intake helpers: live ID number check, the ID card reader adapter, signature pads
   (submit-once is ejia.js, on every page). Plain JS, no dependencies; every page also works
   without it. */
(function () {
  "use strict";

  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK = "10X98765432";

  // Mirrors ejia.core.idnumber.parse for instant feedback; the server has the last word.
  function checkId(raw) {
    var text = (raw || "").replace(/\s+/g, "").toUpperCase();
    if (!text) return { ok: null, msg: "" };
    if (text.length === 15 && /^\d{15}$/.test(text)) return { ok: true, msg: "旧式15位号码，提交后自动升为18位。" };
    if (text.length < 18) return { ok: null, msg: "已输入 " + text.length + " 位，共需 18 位。" };
    if (text.length > 18) return { ok: false, msg: "身份证号码应为18位，您输入了" + text.length + "位。" };
    if (!/^\d{17}[\dX]$/.test(text)) return { ok: false, msg: "身份证号码前17位必须是数字，最后一位是数字或字母X。" };
    var y = +text.substr(6, 4), m = +text.substr(10, 2), d = +text.substr(12, 2);
    var born = new Date(y, m - 1, d);
    if (born.getFullYear() !== y || born.getMonth() !== m - 1 || born.getDate() !== d || born > new Date() || y < 1850) {
      return { ok: false, msg: "出生日期“" + text.substr(6, 8) + "”不是有效日期。" };
    }
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += (+text[i]) * WEIGHTS[i];
    if (CHECK[sum % 11] !== text[17]) {
      return { ok: false, msg: "校验位不正确，请核对号码是否输错（常见为个别数字输错或顺序颠倒）。" };
    }
    var sex = (+text[16]) % 2 === 1 ? "男" : "女";
    return { ok: true, msg: "号码有效：" + y + "年" + m + "月" + d + "日出生，" + sex + "。" };
  }

  function feedbackFor(input) {
    var box = input.parentElement.querySelector("[data-id-feedback]");
    return box;
  }

  function showCheck(input) {
    var r = checkId(input.value);
    input.classList.toggle("is-invalid", r.ok === false);
    input.classList.toggle("is-valid", r.ok === true);
    var box = feedbackFor(input);
    if (box) {
      box.textContent = r.msg;
      box.className = "form-text " + (r.ok === false ? "text-danger" : r.ok ? "text-success" : "");
    }
  }

  function initIdInputs(root) {
    root.querySelectorAll("[data-idnumber]").forEach(function (input) {
      input.addEventListener("input", function () { showCheck(input); });
      if (input.value) showCheck(input);
    });
  }

  // ---- ID card reader: GET the local reader service, fill the form.
  function initReader(root) {
    root.querySelectorAll("[data-id-reader]").forEach(function (button) {
      button.addEventListener("click", function () {
        var status = document.querySelector("[data-reader-status]");
        var url = button.getAttribute("data-id-reader");
        if (status) { status.textContent = "正在读卡，请将身份证放在读卡器上……"; status.className = "ms-2 small text-body-secondary"; }
        button.disabled = true;
        var controller = window.AbortController ? new AbortController() : null;
        var timer = setTimeout(function () { if (controller) controller.abort(); }, 8000);
        fetch(url, { cache: "no-store", signal: controller ? controller.signal : undefined })
          .then(function (resp) { if (!resp.ok) throw new Error("HTTP " + resp.status); return resp.json(); })
          .then(function (card) {
            var id = document.getElementById("id_id_number");
            id.value = card.id_number || card.idNumber || "";
            document.getElementById("id_name").value = card.name || "";
            var address = document.getElementById("id_address");
            if (address) address.value = card.address || "";
            var read = document.getElementById("id_card_read");
            if (read) read.value = "1";
            showCheck(id);
            if (status) { status.textContent = "已读取：" + (card.name || ""); status.className = "ms-2 small text-success"; }
          })
          .catch(function () {
            if (status) { status.textContent = "未能读取身份证（读卡器未连接或未放卡），请手工输入号码。"; status.className = "ms-2 small text-danger"; }
          })
          .finally(function () { clearTimeout(timer); button.disabled = false; });
      });
    });
  }

  // ---- Signature pads: draw with mouse, pen or finger; the PNG goes into a hidden input.
  function initSignatures(root) {
    root.querySelectorAll("[data-signature]").forEach(function (pad) {
      var canvas = pad.querySelector("canvas");
      var input = pad.querySelector("input[type=hidden]");
      var ctx = canvas.getContext("2d");
      var drawing = false, drawn = false, last = null;

      function size() {
        var ratio = window.devicePixelRatio || 1;
        var w = canvas.clientWidth, h = canvas.clientHeight || 160;
        canvas.width = w * ratio; canvas.height = h * ratio;
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
      }
      size();
      function point(e) {
        var r = canvas.getBoundingClientRect();
        return { x: e.clientX - r.left, y: e.clientY - r.top };
      }
      canvas.style.touchAction = "none";
      canvas.addEventListener("pointerdown", function (e) {
        drawing = true; last = point(e); canvas.setPointerCapture(e.pointerId);
        ctx.beginPath(); ctx.arc(last.x, last.y, 1, 0, Math.PI * 2); ctx.fill();
      });
      canvas.addEventListener("pointermove", function (e) {
        if (!drawing) return;
        var p = point(e);
        ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
        last = p; drawn = true;
      });
      function end() {
        if (!drawing) return;
        drawing = false;
        if (drawn) input.value = canvas.toDataURL("image/png");
      }
      canvas.addEventListener("pointerup", end);
      canvas.addEventListener("pointerleave", end);
      pad.querySelector("[data-signature-clear]").addEventListener("click", function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height); input.value = ""; drawn = false;
      });
    });
  }

  // ---- Photo size: say so before uploading 20 MB over a village connection.
  function initFiles(root) {
    root.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
      input.addEventListener("change", function () {
        var max = +input.getAttribute("data-max-bytes");
        var f = input.files && input.files[0];
        input.setCustomValidity(f && f.size > max ? "照片不能超过 5 MB，请压缩后重新选择。" : "");
        input.reportValidity();
      });
    });
  }

  function init() {
    initIdInputs(document);
    initReader(document);
    initSignatures(document);
    initFiles(document);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
