/* The operator console: nine-day week grid (blocks by time and channel), day list for
 * small screens, and the create/edit form. Reads GET /api/v1/specials; writes with
 * POST/PATCH/DELETE carrying If-Match, so a stale edit is refused, never lost.
 * Times are shown and entered in the server's display zone (Asia/Seoul), whatever the
 * browser's own zone. User text only ever goes through textContent.
 */
(function () {
  "use strict";

  var LM = window.LM;
  var HOUR_PX = 48; /* keep in step with console.css */
  var SNAP_MIN = 5;
  var REFRESH_MS = 30000;

  var cfg = {};
  var zone = "Asia/Seoul";
  var state = { from: "", specials: [], view: "week", editing: null, drag: null, lineup: [] };
  var el = {};

  /* ---- time in the display zone ------------------------------------------------------ */

  var partsFormat = null;

  function zoneParts(date) {
    if (!partsFormat) {
      partsFormat = new Intl.DateTimeFormat("en-CA", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      });
    }
    var out = {};
    partsFormat.formatToParts(date).forEach(function (p) {
      if (p.type !== "literal") out[p.type] = Number(p.value);
    });
    return out;
  }

  function zoneOffsetMs(utcMs) {
    var p = zoneParts(new Date(utcMs));
    var asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return asUtc - Math.floor(utcMs / 1000) * 1000;
  }

  /* "2026-12-18" + "19:30" meant in the display zone -> Date. */
  function zonedToDate(day, time) {
    var d = day.split("-").map(Number);
    var t = time.split(":").map(Number);
    var guess = Date.UTC(d[0], d[1] - 1, d[2], t[0], t[1] || 0);
    var offset = zoneOffsetMs(guess);
    var utc = guess - offset;
    var again = zoneOffsetMs(utc);
    if (again !== offset) utc = guess - again;
    return new Date(utc);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function dayOf(date) {
    var p = zoneParts(date);
    return p.year + "-" + pad(p.month) + "-" + pad(p.day);
  }

  function timeOf(date) {
    var p = zoneParts(date);
    return pad(p.hour) + ":" + pad(p.minute);
  }

  function minutesOfDay(date) {
    var p = zoneParts(date);
    return p.hour * 60 + p.minute;
  }

  function addDays(day, n) {
    var d = day.split("-").map(Number);
    var x = new Date(Date.UTC(d[0], d[1] - 1, d[2] + n));
    return x.getUTCFullYear() + "-" + pad(x.getUTCMonth() + 1) + "-" + pad(x.getUTCDate());
  }

  function dayLabel(day) {
    return new Intl.DateTimeFormat(LM.lang() === "en" ? "en-GB" : "ko-KR", {
      timeZone: zone, month: "short", day: "numeric", weekday: "short",
    }).format(zonedToDate(day, "12:00"));
  }

  function windowDays() {
    var days = [];
    for (var i = 0; i < (cfg.days || 9); i++) days.push(addDays(state.from, i));
    return days;
  }

  /* ---- small DOM helpers ------------------------------------------------------------- */

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function hostName(id) {
    var host = (cfg.hosts || []).filter(function (h) { return h.id === id; })[0];
    return host ? host.name : "#" + id;
  }

  function channels() {
    var seen = {};
    var list = [];
    (cfg.channels || []).concat(state.specials.map(function (s) { return s.channel; }))
      .forEach(function (c) {
        if (!seen[c]) { seen[c] = true; list.push(c); }
      });
    return list.sort();
  }

  function errorText(err) {
    var key = "console.errors." + err.code;
    var text = LM.t(key, { min: cfg.min_minutes, max: cfg.max_minutes, cap: cfg.discount_cap });
    return text === key ? err.message : text;
  }

  function show(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function notify(text) {
    show(el.error, "");
    show(el.notice, text);
    LM.announce(text);
  }

  function fail(err) {
    show(el.notice, "");
    show(el.error, errorText(err));
  }

  /* ---- loading and rendering --------------------------------------------------------- */

  function load() {
    return LM.api("/api/v1/specials?limit=1000").then(function (data) {
      state.specials = data.items || [];
      render();
    }, fail);
  }

  function inWindow(special) {
    var day = dayOf(new Date(special.starts_at));
    var days = windowDays();
    return day >= days[0] && day <= days[days.length - 1];
  }

  function render() {
    var days = windowDays();
    el.range.textContent = dayLabel(days[0]) + " – " + dayLabel(days[days.length - 1]);
    renderWeek(days);
    renderList(days);
    el.week.hidden = state.view !== "week";
    el.hint.hidden = state.view !== "week";
    el.list.hidden = state.view !== "list";
    document.querySelectorAll("[data-console-view]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-console-view") === state.view));
    });
  }

  function blockFor(special) {
    var start = new Date(special.starts_at);
    var end = new Date(special.ends_at);
    var block = make("div", "cw-block cw-block--" + special.status);
    block.setAttribute("role", "button");
    block.tabIndex = 0;
    block.dataset.id = String(special.id);
    var editable = special.status === "scheduled";
    block.draggable = editable;
    var top = minutesOfDay(start) * HOUR_PX / 60;
    var minutes = (end - start) / 60000;
    block.style.top = top + "px";
    block.style.height = Math.max(Math.min(minutes, 1440 - minutesOfDay(start)) * HOUR_PX / 60, 18) + "px";
    block.appendChild(make("span", "cw-block__time", timeOf(start) + "–" + timeOf(end)));
    block.appendChild(make("span", "cw-block__title", special.title));
    block.appendChild(make("span", "cw-block__meta",
      hostName(special.host_id) + " · " + LM.t("status." + special.status)));
    block.title = special.title + " (" + timeOf(start) + "–" + timeOf(end) + ", " + special.channel + ")";
    block.addEventListener("click", function () { openForm(special); });
    block.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openForm(special); }
    });
    block.addEventListener("dragstart", function (e) {
      var rect = block.getBoundingClientRect();
      state.drag = { special: special, grabY: e.clientY - rect.top };
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", String(special.id));
    });
    block.addEventListener("dragend", function () { state.drag = null; });
    return block;
  }

  function renderWeek(days) {
    var lanes = channels();
    var grid = make("div", "cw");
    grid.style.setProperty("--cw-days", String(days.length));
    grid.appendChild(make("div", "cw-corner"));
    days.forEach(function (day) {
      var head = make("div", "cw-dayhead");
      head.appendChild(make("span", "cw-dayhead__date", dayLabel(day)));
      var names = make("span", "cw-dayhead__lanes");
      lanes.forEach(function (c) { names.appendChild(make("span", "cw-lanename", c)); });
      head.appendChild(names);
      grid.appendChild(head);
    });
    var hours = make("div", "cw-hours");
    for (var h = 0; h < 24; h++) hours.appendChild(make("span", "cw-hour", pad(h) + ":00"));
    grid.appendChild(hours);
    days.forEach(function (day) {
      var column = make("div", "cw-day");
      column.dataset.day = day;
      lanes.forEach(function (channel) {
        var lane = make("div", "cw-lane");
        lane.dataset.day = day;
        lane.dataset.channel = channel;
        lane.addEventListener("dragover", function (e) {
          if (state.drag) { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }
        });
        lane.addEventListener("drop", function (e) {
          if (!state.drag) return;
          e.preventDefault();
          var rect = lane.getBoundingClientRect();
          var minutes = (e.clientY - rect.top - state.drag.grabY) * 60 / HOUR_PX;
          minutes = Math.max(0, Math.min(1435, Math.round(minutes / SNAP_MIN) * SNAP_MIN));
          var drag = state.drag;
          state.drag = null;
          move(drag.special, day, pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60), channel);
        });
        column.appendChild(lane);
      });
      grid.appendChild(column);
    });
    state.specials.forEach(function (special) {
      if (!inWindow(special)) return;
      var lane = grid.querySelector(
        '.cw-lane[data-day="' + dayOf(new Date(special.starts_at)) + '"][data-channel="' +
        CSS.escape(special.channel) + '"]'
      );
      if (lane) lane.appendChild(blockFor(special));
    });
    el.week.textContent = "";
    el.week.appendChild(grid);
  }

  /* The week opens at its earliest show (half an hour above it), so a 00:30 special is
     in sight; an empty week opens at 08:00. Later refreshes keep the operator's scroll. */
  function scrollToEarliest() {
    var earliest = null;
    state.specials.forEach(function (special) {
      if (!inWindow(special)) return;
      var minutes = minutesOfDay(new Date(special.starts_at));
      if (earliest === null || minutes < earliest) earliest = minutes;
    });
    var minutes = earliest === null ? 8 * 60 : Math.max(0, earliest - 30);
    el.week.scrollTop = (minutes * HOUR_PX) / 60;
  }

  function renderList(days) {
    el.list.textContent = "";
    days.forEach(function (day) {
      var section = make("section", "cl-day");
      section.appendChild(make("h2", "cl-day__title", dayLabel(day)));
      var items = state.specials.filter(function (s) {
        return dayOf(new Date(s.starts_at)) === day;
      });
      if (!items.length) section.appendChild(make("p", "cl-empty", LM.t("console.empty_day")));
      var list = make("ul", "cl-items");
      items.forEach(function (special) {
        var li = make("li", "cl-item cl-item--" + special.status);
        var button = make("button", "cl-item__button");
        button.type = "button";
        button.dataset.id = String(special.id);
        button.appendChild(make("span", "cl-item__time",
          timeOf(new Date(special.starts_at)) + "–" + timeOf(new Date(special.ends_at))));
        button.appendChild(make("span", "cl-item__title", special.title));
        button.appendChild(make("span", "cl-item__meta", special.channel + " · " +
          hostName(special.host_id) + " · " + LM.t("status." + special.status)));
        button.addEventListener("click", function () { openForm(special); });
        li.appendChild(button);
        list.appendChild(li);
      });
      section.appendChild(list);
      el.list.appendChild(section);
    });
  }

  /* ---- writes ------------------------------------------------------------------------ */

  function ifMatch(special) {
    return { "If-Match": '"' + special.version + '"' };
  }

  function move(special, day, time, channel) {
    var start = zonedToDate(day, time);
    var length = new Date(special.ends_at) - new Date(special.starts_at);
    var body = {
      starts_at: start.toISOString(),
      ends_at: new Date(start.getTime() + length).toISOString(),
      channel: channel,
    };
    LM.api("/api/v1/specials/" + special.id, {
      method: "PATCH", body: body, headers: ifMatch(special),
    }).then(function () {
      notify(LM.t("console.moved"));
      return load();
    }, function (err) {
      fail(err);
      return load();
    });
  }

  /* ---- the form ---------------------------------------------------------------------- */

  function field(name) {
    return el.form.elements.namedItem(name);
  }

  function clearErrors() {
    el.form.querySelectorAll("[data-error-for]").forEach(function (node) { show(node, ""); });
    el.form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  var FOCUS_FOR = { starts_at: "start", ends_at: "end", product_ids: null, deals: null };

  function showFieldError(err) {
    show(el.notice, ""); /* a refusal replaces an earlier "Saved." */
    var name = (err.details && err.details.field) || "_form";
    var target = el.form.querySelector('[data-error-for="' + name + '"]') ||
      el.form.querySelector('[data-error-for="_form"]');
    show(target, errorText(err));
    var inputName = name in FOCUS_FOR ? FOCUS_FOR[name] : name;
    var input = inputName ? field(inputName) : null;
    if (input && input.focus) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function productOptions(select, selected) {
    (cfg.products || []).forEach(function (p) {
      var option = make("option", null, LM.localName(p));
      option.value = String(p.id);
      if (p.id === selected) option.selected = true;
      select.appendChild(option);
    });
  }

  function numberCell(name, value, min, max) {
    var td = make("td");
    var input = make("input", "input");
    input.type = "number";
    input.name = name;
    input.min = String(min);
    if (max) input.max = String(max);
    input.value = String(value);
    input.setAttribute("aria-label", LM.t("console." + name));
    td.appendChild(input);
    return td;
  }

  function addDealRow(deal) {
    deal = deal || { product_id: null, offset_s: 0, discount_pct: 20, duration_s: 600,
                     quantity: 10, per_buyer_limit: 5 };
    var row = make("tr", "console-deal");
    row.dataset.perBuyerLimit = String(deal.per_buyer_limit || 5);
    var td = make("td");
    var select = make("select", "input");
    select.name = "deal_product";
    select.setAttribute("aria-label", LM.t("console.deal_product"));
    productOptions(select, deal.product_id);
    td.appendChild(select);
    row.appendChild(td);
    row.appendChild(numberCell("deal_offset", Math.round(deal.offset_s / 60), 0));
    row.appendChild(numberCell("deal_discount", deal.discount_pct, 1, cfg.discount_cap));
    row.appendChild(numberCell("deal_duration", Math.round(deal.duration_s / 60), 1));
    row.appendChild(numberCell("deal_quantity", deal.quantity, 1));
    var remove = make("button", "btn btn--quiet btn--small", LM.t("console.remove_deal"));
    remove.type = "button";
    remove.addEventListener("click", function () { row.remove(); });
    var cell = make("td");
    cell.appendChild(remove);
    row.appendChild(cell);
    el.deals.appendChild(row);
  }

  function readDeals() {
    return Array.prototype.map.call(el.deals.querySelectorAll("tr"), function (row) {
      function num(name) { return Number(row.querySelector('[name="' + name + '"]').value || 0); }
      return {
        product_id: Number(row.querySelector('[name="deal_product"]').value),
        offset_s: Math.round(num("deal_offset") * 60),
        discount_pct: Math.round(num("deal_discount")),
        duration_s: Math.round(num("deal_duration") * 60),
        quantity: Math.round(num("deal_quantity")),
        per_buyer_limit: Number(row.dataset.perBuyerLimit || 5),
      };
    });
  }

  function setDisabled(names, disabled) {
    names.forEach(function (name) {
      var input = field(name);
      if (input && "disabled" in input) input.disabled = disabled;
    });
  }

  function fillForm(special, preset) {
    clearErrors();
    el.form.reset();
    el.deals.textContent = "";
    var title = el.dialog.querySelector("#lm-special-dialog-title");
    title.textContent = special ? title.dataset.edit : title.dataset.create;
    var status = special ? special.status : "scheduled";
    if (special) {
      var start = new Date(special.starts_at);
      var end = new Date(special.ends_at);
      field("title").value = special.title;
      field("description").value = special.description || "";
      field("date").value = dayOf(start);
      field("start").value = timeOf(start);
      field("end").value = timeOf(end);
      field("host_id").value = String(special.host_id);
      field("channel").value = special.channel;
      field("platform_id").value = special.platform_id ? String(special.platform_id) : "";
      el.form.querySelectorAll('[name="product_ids"]').forEach(function (box) {
        box.checked = special.product_ids.indexOf(Number(box.value)) >= 0;
      });
      state.lineup = special.product_ids.slice();
      (special.deals || []).forEach(addDealRow);
    } else {
      field("date").value = (preset && preset.day) || state.from;
      field("start").value = "19:00";
      field("end").value = "20:00";
    }
    var live = status === "live";
    var history = status === "ended" || status === "cancelled";
    setDisabled(["date", "start", "host_id", "channel", "platform_id"], live || history);
    setDisabled(["title", "description", "end"], history);
    el.form.querySelectorAll('[name="product_ids"], .console-deal input, .console-deal select, .console-deal button')
      .forEach(function (input) { input.disabled = history || (live && input.name !== "product_ids"); });
    el.addDeal.disabled = live || history;
    show(el.locked, live ? LM.t("console.locked") : history ? LM.t("console.history") : "");
    var facts = [];
    if (special && special.went_live_at) {
      facts.push(LM.t("console.went_live", { time: LM.formatDateTime(special.went_live_at) }));
    }
    if (special && special.ended_at) {
      facts.push(LM.t("console.ended_at", { time: LM.formatDateTime(special.ended_at) }));
    }
    show(el.history, facts.join(" · "));
    el.save.hidden = history;
    el.cancel.hidden = !special || history;
    el.remove.hidden = !special || !(status === "scheduled" || status === "cancelled");
  }

  function openForm(special, preset) {
    state.editing = special || null;
    state.lineup = [];
    fillForm(state.editing, preset);
    drawLineup();
    var sales = el.dialog.querySelector("[data-console-sales]");
    sales.hidden = !special;
    if (special) sales.setAttribute("href", "/console/specials/" + special.id + "/sales");
    var dashboard = el.dialog.querySelector("[data-console-dashboard]");
    dashboard.hidden = !special;
    if (special) dashboard.setAttribute("href", "/console/specials/" + special.id + "/dashboard");
    if (!el.dialog.open) el.dialog.showModal();
    field("title").focus();
  }

  function closeForm() {
    state.editing = null;
    if (el.dialog.open) el.dialog.close();
  }

  function payload() {
    var day = field("date").value;
    var start = zonedToDate(day, field("start").value || "00:00");
    var end = zonedToDate(day, field("end").value || "00:00");
    if (end <= start && field("end").value && field("start").value) {
      end = zonedToDate(addDays(day, 1), field("end").value); /* runs past midnight */
    }
    var platform = field("platform_id").value;
    return {
      title: field("title").value,
      description: field("description").value,
      starts_at: start.toISOString(),
      ends_at: end.toISOString(),
      host_id: Number(field("host_id").value),
      channel: field("channel").value.trim(),
      platform_id: platform ? Number(platform) : null,
      product_ids: state.lineup.slice(),
      deals: readDeals(),
    };
  }

  /* The line-up in presentation order: ticking a product adds it at the end, unticking
     removes it, the arrows move it; product_ids is sent in this order. */
  function productName(id) {
    var found = (cfg.products || []).filter(function (p) { return p.id === id; })[0];
    if (!found) return "#" + id;
    return LM.localName(found);
  }

  function drawLineup() {
    var list = el.form.querySelector("[data-console-lineup]");
    if (!list) return;
    list.textContent = "";
    var status = state.editing ? state.editing.status : "scheduled";
    var frozen = status === "ended" || status === "cancelled";
    state.lineup.forEach(function (id, index) {
      var item = document.createElement("li");
      item.setAttribute("data-product-id", id);
      var name = document.createElement("span");
      name.textContent = productName(id);
      item.appendChild(name);
      [["up", -1], ["down", 1]].forEach(function (move) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn--quiet btn--small";
        button.textContent = move[1] < 0 ? "↑" : "↓";
        button.setAttribute("aria-label", list.getAttribute("data-" + move[0]) + ": " + productName(id));
        button.setAttribute("data-lineup-" + move[0], id);
        var target = index + move[1];
        button.disabled = frozen || target < 0 || target >= state.lineup.length;
        button.addEventListener("click", function () {
          state.lineup.splice(index, 1);
          state.lineup.splice(target, 0, id);
          drawLineup();
          var again = list.querySelector("[data-lineup-" + move[0] + '="' + id + '"]');
          if (again && !again.disabled) again.focus();
        });
        item.appendChild(button);
      });
      list.appendChild(item);
    });
  }

  function lineupChanged(event) {
    var box = event.target;
    if (!box || box.name !== "product_ids") return;
    var id = Number(box.value);
    state.lineup = state.lineup.filter(function (other) { return other !== id; });
    if (box.checked) state.lineup.push(id);
    drawLineup();
  }

  function afterWrite(item, message) {
    closeForm();
    if (item && !inWindow(item)) state.from = dayOf(new Date(item.starts_at));
    notify(message);
    return load();
  }

  function refreshEditing(err) {
    /* Someone else wrote first: show their version and keep the dialog open. */
    var editing = state.editing;
    return load().then(function () {
      var fresh = state.specials.filter(function (s) { return editing && s.id === editing.id; })[0];
      if (fresh) {
        state.editing = fresh;
        fillForm(fresh);
      }
      show(el.form.querySelector('[data-error-for="_form"]'), LM.t("console.stale"));
      LM.announce(errorText(err));
    });
  }

  function submit(event) {
    event.preventDefault();
    clearErrors();
    var body = payload();
    var editing = state.editing;
    var request;
    if (!editing) {
      request = LM.api("/api/v1/specials", { method: "POST", body: body });
    } else {
      if (editing.status === "live") {
        body = { title: body.title, description: body.description, ends_at: body.ends_at,
                 product_ids: body.product_ids };
      }
      request = LM.api("/api/v1/specials/" + editing.id,
                       { method: "PATCH", body: body, headers: ifMatch(editing) });
    }
    el.save.disabled = true;
    request.then(function (item) {
      return afterWrite(item, LM.t("console.saved"));
    }, function (err) {
      if (err.status === 412 || err.code === "version_conflict") return refreshEditing(err);
      showFieldError(err);
    }).then(function () { el.save.disabled = false; });
  }

  function cancelSpecial() {
    var editing = state.editing;
    if (!editing || !window.confirm(LM.t("console.confirm_cancel"))) return;
    LM.api("/api/v1/specials/" + editing.id, {
      method: "PATCH", body: { status: "cancelled" }, headers: ifMatch(editing),
    }).then(function (item) {
      return afterWrite(item, LM.t("console.cancelled"));
    }, function (err) {
      if (err.status === 412) return refreshEditing(err);
      showFieldError(err);
    });
  }

  function deleteSpecial() {
    var editing = state.editing;
    if (!editing || !window.confirm(LM.t("console.confirm_delete"))) return;
    LM.api("/api/v1/specials/" + editing.id, { method: "DELETE", headers: ifMatch(editing) })
      .then(function () {
        return afterWrite(null, LM.t("console.deleted"));
      }, function (err) {
        if (err.status === 412) return refreshEditing(err);
        showFieldError(err);
      });
  }

  /* ---- start ------------------------------------------------------------------------- */

  LM.onReady(function () {
    var root = document.getElementById("lm-console-week");
    if (!root) return;
    cfg = LM.bootstrap().console || {};
    zone = LM.timezone();
    state.from = cfg.from;
    el = {
      week: root,
      list: document.getElementById("lm-console-list"),
      error: document.getElementById("lm-console-error"),
      notice: document.getElementById("lm-console-notice"),
      hint: document.querySelector("[data-console-hint]"),
      range: document.querySelector("[data-console-range]"),
      dialog: document.getElementById("lm-special-dialog"),
      form: document.getElementById("lm-special-form"),
      deals: document.querySelector("[data-console-deals]"),
      addDeal: document.querySelector("[data-console-add-deal]"),
      locked: document.querySelector("[data-console-locked]"),
      history: document.querySelector("[data-console-history]"),
      save: document.querySelector("[data-console-save]"),
      cancel: document.querySelector("[data-console-cancel]"),
      remove: document.querySelector("[data-console-delete]"),
    };
    if (window.matchMedia && window.matchMedia("(max-width: 48rem)").matches) state.view = "list";
    document.querySelector("[data-console-new]").addEventListener("click", function () {
      openForm(null);
    });
    document.querySelector("[data-console-prev]").addEventListener("click", function () {
      state.from = addDays(state.from, -(cfg.days || 9));
      render();
      scrollToEarliest();
    });
    document.querySelector("[data-console-next]").addEventListener("click", function () {
      state.from = addDays(state.from, cfg.days || 9);
      render();
      scrollToEarliest();
    });
    document.querySelectorAll("[data-console-view]").forEach(function (button) {
      button.addEventListener("click", function () {
        state.view = button.getAttribute("data-console-view");
        render();
      });
    });
    document.querySelector("[data-console-close]").addEventListener("click", closeForm);
    el.addDeal.addEventListener("click", function () { addDealRow(null); });
    el.form.addEventListener("submit", submit);
    el.form.addEventListener("change", lineupChanged);
    el.cancel.addEventListener("click", cancelSpecial);
    el.remove.addEventListener("click", deleteSpecial);
    el.dialog.addEventListener("close", function () { state.editing = null; });
    load().then(scrollToEarliest);
    window.setInterval(function () {
      if (!el.dialog.open && !state.drag && document.visibilityState === "visible") load();
    }, REFRESH_MS);
  });
})();
