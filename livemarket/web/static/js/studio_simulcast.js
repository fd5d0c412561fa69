/* LiveMarket studio: where the special also airs (simulcast to partner RTMP ingests).
 *
 * Reads GET /api/v1/specials/{id}/simulcast once, then re-renders on every
 * "simulcast.status" frame of the page's socket (LM.realtime). One line per
 * destination: name, state (connecting / live / retrying / failed / stopped),
 * kbps, uptime, reconnects, and the reason when it is not live. Text only
 * (textContent): names come from operators, reasons from FFmpeg.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var root = document.getElementById("lm-simulcast");
  if (!root) return;
  var specialId = root.getAttribute("data-special-id");
  var list = root.querySelector("[data-lm-simulcast-list]");
  var none = root.querySelector("[data-lm-simulcast-none]");

  function span(className, text) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    return node;
  }

  function render(status) {
    var destinations = (status && status.destinations) || [];
    list.textContent = "";
    none.hidden = destinations.length > 0;
    destinations.forEach(function (d) {
      var item = document.createElement("li");
      item.setAttribute("data-destination-id", String(d.id));
      item.appendChild(span("lm-simulcast__name", d.name));
      var state = span("lm-simulcast__state", LM.t("simulcast." + d.state));
      state.setAttribute("data-state", d.state);
      item.appendChild(state);
      item.appendChild(
        span(
          "lm-simulcast__figures",
          LM.t("simulcast.figures", {
            kbps: Math.round((d.bitrate_bps || 0) / 1000),
            uptime: Math.round(d.uptime_s || 0),
            reconnects: d.reconnects || 0,
          })
        )
      );
      if (d.reason) item.appendChild(span("lm-simulcast__reason", d.reason));
      list.appendChild(item);
    });
  }

  if (LM.api) {
    LM.api("/api/v1/specials/" + specialId + "/simulcast").then(render, function () {});
  }
  if (LM.realtime && LM.realtime.on) {
    LM.realtime.on("simulcast.status", function (frame) {
      if (String(frame.special_id) === String(specialId)) render(frame);
    });
  }
})();
