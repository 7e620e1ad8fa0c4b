// Overview and models charts. Data comes from /api/overview as JSON; values are only ever passed to Chart.js
// as data and labels (drawn on a canvas) or set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var palette = ["#3559e0", "#e0487a", "#1f9d55", "#d98f00", "#9b51e0", "#0f9ba8", "#667085", "#b8432f"];

  function fmtTime(t) {
    var d = new Date(t * 1000);
    return d.toISOString().slice(5, 16).replace("T", " ");
  }

  function lineChart(canvas, labels, datasets, unit) {
    return new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, spanGaps: true, responsive: true,
        interaction: { mode: "nearest", intersect: false },
        scales: { y: { beginAtZero: true, title: { display: !!unit, text: unit || "" } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function barChart(canvas, labels, datasets, stacked) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, responsive: true,
        scales: { x: { stacked: !!stacked }, y: { stacked: !!stacked, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function modelSeries(data, metric) {
    var series = data.series || { buckets: [], by_model: {} };
    var models = Object.keys(series.by_model || {});
    return models.map(function (model, i) {
      var color = palette[i % palette.length];
      return { label: model, data: series.by_model[model][metric] || [], borderColor: color, backgroundColor: color,
               pointRadius: 2 };
    });
  }

  function drawOverview(data) {
    var labels = ((data.series && data.series.buckets) || []).map(fmtTime);
    document.querySelectorAll("canvas[data-metric]").forEach(function (canvas) {
      lineChart(canvas, labels, modelSeries(data, canvas.dataset.metric), canvas.dataset.unit);
    });
    var outcomes = document.getElementById("chart-outcomes");
    if (outcomes) {
      // every outcome other than completed, per second of each bucket (the last bucket: of the part that has
      // passed, so a bucket still filling up is not drawn as a drop)
      var totals = { error: [], abandoned: [], cancelled: [], timeout: [] };
      var byModel = (data.series && data.series.by_model) || {};
      var seconds = (data.series && data.series.seconds) || [];
      labels.forEach(function (_, i) {
        Object.keys(totals).forEach(function (key) {
          var sum = 0;
          Object.keys(byModel).forEach(function (m) { sum += (byModel[m][key] || [])[i] || 0; });
          totals[key].push(seconds[i] ? sum / seconds[i] : null);
        });
      });
      barChart(outcomes, labels, [
        { label: "error", data: totals.error, backgroundColor: "#d64545" },
        { label: "abandoned", data: totals.abandoned, backgroundColor: "#d98f00" },
        { label: "cancelled", data: totals.cancelled, backgroundColor: "#0f9ba8" },
        { label: "timeout", data: totals.timeout, backgroundColor: "#9b51e0" }
      ], true);
    }
    var tokens = document.getElementById("chart-tokens");
    if (tokens) drawTokens(tokens, data);
  }

  function drawTokens(canvas, data) {
    var models = data.models || [];
    barChart(canvas, models.map(function (m) { return m.model; }), [
      { label: "input tokens", data: models.map(function (m) { return m.tokens.input; }), backgroundColor: "#8aa0e8" },
      { label: "output tokens", data: models.map(function (m) { return m.tokens.output; }), backgroundColor: "#3559e0" }
    ], true);
  }

  function drawModels(data) {
    var models = data.models || [];
    var names = models.map(function (m) { return m.model; });
    var ttft = document.getElementById("chart-model-ttft");
    if (ttft) {
      barChart(ttft, names, ["p50", "p95", "p99"].map(function (p, i) {
        return { label: "TTFT " + p + " (s)", data: models.map(function (m) { return m.ttft[p]; }),
                 backgroundColor: palette[i] };
      }), false);
    }
    var tps = document.getElementById("chart-model-tps");
    if (tps) {
      barChart(tps, names, [{ label: "output tokens/s p50",
        data: models.map(function (m) { return m.output_tokens_per_second.p50; }), backgroundColor: palette[2] }], false);
    }
  }

  function load() {
    if (typeof Chart === "undefined") return; // tables above still show every number
    fetch("/api/overview" + window.location.search, { headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        if (document.body.dataset.page === "models") drawModels(data); else drawOverview(data);
        document.body.dataset.chartsReady = "true";
      })
      .catch(function (err) { document.body.dataset.chartsReady = "failed"; console.warn("charts:", err.message); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load); else load();
})();
