/* A special's live dashboard: figures from GET /api/v1/specials/{id}/figures, drawn with
 * Chart.js and kept live by the special's realtime socket (viewers, likes and chat as they
 * come; an order or a deal change reloads the stored figures, at most once a second).
 */
(function () {
  "use strict";

  var LM = window.LM;
  var boot = LM.bootstrap();
  var specialId = boot.special_id;
  var figures = null;
  var charts = {};
  var viewersNow = null;
  var reloadTimer = null;
  var retryTimer = null;

  function $(selector) {
    return document.querySelector(selector);
  }

  function minuteLabel(iso) {
    return LM.formatTime(iso);
  }

  function setTile(key, text) {
    var node = $('[data-lm-tile="' + key + '"]');
    if (node) node.textContent = text;
  }

  function chart(name, config) {
    var canvas = $('[data-lm-chart="' + name + '"]');
    if (!canvas || !window.Chart) return null;
    if (charts[name]) {
      charts[name].data = config.data;
      charts[name].update("none");
      return charts[name];
    }
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {}
    );
    var scales = (config.options.scales = config.options.scales || {});
    scales.y = Object.assign({ beginAtZero: true, suggestedMax: 5 }, scales.y || {});
    charts[name] = new window.Chart(canvas, config);
    return charts[name];
  }

  function currentMinute() {
    if (!figures || !figures.minutes.length) return null;
    var now = new Date(LM.realtime ? LM.realtime.serverNow() : Date.now());
    now.setSeconds(0, 0);
    for (var i = figures.minutes.length - 1; i >= 0; i--) {
      if (Date.parse(figures.minutes[i].minute) === now.getTime()) return figures.minutes[i];
    }
    return null;
  }

  function drawTiles() {
    var totals = figures.totals;
    setTile("viewers_now", viewersNow === null ? "–" : String(viewersNow));
    setTile("peak_viewers", String(Math.max(totals.peak_viewers, viewersNow || 0)));
    setTile("likes", String(totals.likes));
    setTile("chat", String(totals.chat));
    setTile("orders", String(totals.orders));
    setTile("revenue", LM.formatKRW(totals.revenue));
    setTile(
      "conversion",
      totals.conversion === null ? "–" : (totals.conversion * 100).toFixed(1) + "%"
    );
  }

  function drawCharts() {
    var labels = figures.minutes.map(function (m) {
      return minuteLabel(m.minute);
    });
    function series(field) {
      return figures.minutes.map(function (m) {
        return m[field];
      });
    }
    chart("viewers", {
      type: "line",
      data: {
        labels: labels,
        datasets: [{ label: LM.t("figures.peak_viewers"), data: series("viewers"), fill: true }],
      },
    });
    chart("chat", {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: LM.t("figures.chat_per_minute"), data: series("chat") },
          { type: "line", label: LM.t("figures.likes_per_minute"), data: series("likes"), yAxisID: "likes" },
        ],
      },
      options: { scales: { likes: { position: "right", beginAtZero: true } } },
    });
    chart("sales", {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: LM.t("figures.orders_per_minute"), data: series("orders") },
          { type: "line", label: LM.t("figures.revenue_per_minute"), data: series("revenue"), yAxisID: "krw" },
        ],
      },
      options: { scales: { krw: { position: "right", beginAtZero: true } } },
    });
    var datasets = [];
    figures.deals.forEach(function (deal) {
      var label = LM.t("figures.deal_label", { id: deal.id, pct: deal.discount_pct });
      datasets.push({
        label: label,
        data: deal.curve.map(function (p) {
          return { x: p.t, y: p.sold };
        }),
        stepped: true,
      });
      var end = deal.curve[deal.curve.length - 1].t;
      datasets.push({
        label: label + " · " + LM.t("figures.quantity"),
        data: [
          { x: 0, y: deal.quantity },
          { x: end, y: deal.quantity },
        ],
        borderDash: [4, 4],
        pointRadius: 0,
      });
    });
    chart("deals", {
      type: "line",
      data: { datasets: datasets },
      options: {
        scales: {
          x: { type: "linear", title: { display: true, text: LM.t("figures.seconds_into_deal") } },
          y: { beginAtZero: true, title: { display: true, text: LM.t("figures.units_sold") } },
        },
      },
    });
  }

  function draw() {
    if (!figures) return;
    drawTiles();
    drawCharts();
    var state = $("[data-lm-figures-state]");
    if (state) state.textContent = LM.t(figures.status === "live" ? "figures.live" : "figures.ended");
    document.body.setAttribute("data-lm-figures-orders", String(figures.totals.orders));
  }

  function load() {
    clearTimeout(retryTimer);
    return LM.api("/api/v1/specials/" + specialId + "/figures").then(
      function (data) {
        figures = data;
        draw();
      },
      function () {
        var state = $("[data-lm-figures-state]");
        if (state) state.textContent = LM.t("figures.failed");
        retryTimer = setTimeout(load, 5000);
      }
    );
  }

  function reloadSoon() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(function () {
      reloadTimer = null;
      load();
    }, 1000);
  }

  if (LM.realtime) {
    LM.realtime.on("hello", function (frame) {
      viewersNow = frame.viewers;
      reloadSoon();
    });
    LM.realtime.on("viewers", function (frame) {
      viewersNow = frame.count;
      var minute = currentMinute();
      if (minute) minute.viewers = Math.max(minute.viewers, frame.count);
      draw();
    });
    LM.realtime.on("likes", function (frame) {
      if (!figures) return;
      figures.totals.likes = Math.max(figures.totals.likes, frame.count);
      var minute = currentMinute();
      if (minute) minute.likes = Math.max(minute.likes, frame.count);
      draw();
    });
    LM.realtime.on("chat", function () {
      if (!figures) return;
      figures.totals.chat += 1;
      var minute = currentMinute();
      if (minute) minute.chat += 1;
      draw();
    });
    ["stock", "deal.started", "deal.ended", "special.status"].forEach(function (type) {
      LM.realtime.on(type, reloadSoon);
    });
  }
  load();
})();
