/* The dashboards' charts (ECharts, vendored): every <div data-chart="ID"> is drawn from the JSON in
   <script type="application/json" id="ID"> written by the server. Money arrives in fen and is
   drawn in 万元; counts above 10,000 are written with 万. The palette is Okabe–Ito, readable with
   the common kinds of colour blindness. The same numbers are in the table under each chart.
   <button data-print> prints the page. Plain JS; the CSP allows no inline script. */
(function () {
  "use strict";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

  function scale(unit, value) {
    if (value === null || value === undefined) return null;
    if (unit === "fen") return Math.round(value / 100) / 10000; // 万元
    return value;
  }

  function axisLabel(unit) {
    return function (value) {
      if (unit === "fen") return value + "万";
      if (unit === "percent") return value + "%";
      if (Math.abs(value) >= 10000) return (value / 10000).toFixed(1).replace(/\.0$/, "") + "万";
      return String(value);
    };
  }

  function tooltipValue(unit) {
    return function (value) {
      if (value === null || value === undefined) return "—";
      if (unit === "fen") return "¥" + value.toLocaleString("zh-CN", { maximumFractionDigits: 2 }) + "万";
      if (unit === "percent") return value.toFixed(1) + "%";
      if (unit === "permille" || unit === "days") return value.toFixed(1);
      return value.toLocaleString("zh-CN");
    };
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    // Slant the category labels when they would not fit side by side (about 13 px a character).
    var crowded = data.x.join("").length * 13 > el.clientWidth - 80;
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption({
      color: PALETTE,
      animation: false,
      grid: { left: 8, right: 16, top: data.series.length > 1 ? 40 : 16, bottom: 8, containLabel: true },
      legend: data.series.length > 1 ? { type: "scroll", top: 0 } : undefined,
      tooltip: { trigger: "axis", valueFormatter: tooltipValue(data.unit) },
      xAxis: {
        type: "category",
        data: data.x,
        axisLabel: { rotate: crowded ? 40 : 0, interval: 0, hideOverlap: !crowded },
      },
      yAxis: { type: "value", axisLabel: { formatter: axisLabel(data.unit) } },
      series: data.series.map(function (s) {
        return {
          name: s.name,
          type: data.kind === "line" ? "line" : "bar",
          stack: s.stack || undefined,
          symbolSize: 6,
          data: s.values.map(function (v) { return scale(data.unit, v); }),
        };
      }),
    });
    el.setAttribute("data-drawn", "1");
    window.addEventListener("resize", function () { chart.resize(); });
    window.addEventListener("beforeprint", function () { chart.resize(); });
  }

  function start() {
    document.querySelectorAll("[data-chart]").forEach(draw);
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
