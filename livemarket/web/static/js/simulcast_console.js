/* The console's simulcast destinations: list, add, test card, enable/disable, remove.
 *
 * Everything goes through /api/v1/simulcast/destinations; the stream key field is
 * cleared as soon as it is sent, and rows only ever show its last four characters.
 * Refusals (422) are shown under the form with the server's message.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var table = document.getElementById("lm-destinations");
  if (!table) return;
  var rows = table.querySelector("[data-destination-rows]");
  var form = document.getElementById("lm-destination-new");
  var formError = form.querySelector("[data-form-error]");
  var notice = document.getElementById("lm-simulcast-notice");
  var platforms = {};

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function where(d) {
    var parts = [];
    if (d.platform_id) parts.push(platforms[d.platform_id] || "#" + d.platform_id);
    if (d.special_id) parts.push(LM.t("simulcast.special") + " " + d.special_id);
    return parts.join(" · ");
  }

  function render(items) {
    rows.textContent = "";
    items.forEach(function (d) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-destination-id", String(d.id));
      tr.appendChild(cell(d.name));
      tr.appendChild(cell(where(d)));
      tr.appendChild(cell(d.url));
      tr.appendChild(cell("••••" + d.stream_key_tail));
      var toggle = document.createElement("input");
      toggle.type = "checkbox";
      toggle.checked = d.enabled;
      toggle.setAttribute("data-enabled", "");
      toggle.setAttribute("aria-label", LM.t("simulcast.enabled"));
      toggle.addEventListener("change", function () {
        LM.api("/api/v1/simulcast/destinations/" + d.id, {
          method: "PATCH",
          body: { enabled: toggle.checked },
        }).then(load, function (err) { say(err.message); load(); });
      });
      var enabled = document.createElement("td");
      enabled.appendChild(toggle);
      tr.appendChild(enabled);
      var actions = document.createElement("td");
      var result = document.createElement("span");
      result.setAttribute("data-test-result", "");
      var test = button(LM.t("simulcast.test"), function () {
        test.disabled = true;
        result.textContent = LM.t("simulcast.testing");
        LM.api("/api/v1/simulcast/destinations/" + d.id + "/test", { method: "POST" }).then(
          function (answer) {
            result.textContent = answer.ok ? LM.t("simulcast.test_ok") : answer.reason;
            result.setAttribute("data-ok", answer.ok ? "true" : "false");
            test.disabled = false;
          },
          function (err) { result.textContent = err.message; test.disabled = false; }
        );
      });
      test.setAttribute("data-test", "");
      var remove = button(LM.t("simulcast.remove"), function () {
        if (!window.confirm(LM.t("simulcast.remove_confirm", { name: d.name }))) return;
        LM.api("/api/v1/simulcast/destinations/" + d.id, { method: "DELETE" }).then(load, function (err) {
          say(err.message);
        });
      });
      remove.setAttribute("data-remove", "");
      actions.appendChild(test);
      actions.appendChild(remove);
      actions.appendChild(result);
      tr.appendChild(actions);
      rows.appendChild(tr);
    });
  }

  function load() {
    return LM.api("/api/v1/simulcast/destinations").then(function (page) { render(page.items); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var body = { name: data.get("name"), url: data.get("url"), stream_key: data.get("stream_key") };
    if (data.get("platform_id")) body.platform_id = Number(data.get("platform_id"));
    if (data.get("special_id")) body.special_id = Number(data.get("special_id"));
    form.elements.stream_key.value = "";
    formError.textContent = "";
    LM.api("/api/v1/simulcast/destinations", { method: "POST", body: body }).then(
      function () { form.reset(); load(); },
      function (err) { formError.textContent = err.message; }
    );
  });

  LM.api("/api/v1/platforms").then(function (page) {
    var select = form.elements.platform_id;
    page.items.forEach(function (p) {
      platforms[p.id] = p.name;
      var option = document.createElement("option");
      option.value = String(p.id);
      option.textContent = p.name;
      select.appendChild(option);
    });
  }).then(load, function (err) { say(err.message); });
})();
