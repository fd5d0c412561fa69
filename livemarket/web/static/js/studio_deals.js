/* Studio deal controls: pin a product (realtime "pin" frame), start and end flash deals,
 * and watch units sold live (deal.started / deal.ended / stock frames).
 * Only the special's host or an operator gets this page; the server checks again.
 */
(function () {
  "use strict";

  var LM = window.LM;

  LM.onReady(function () {
    var root = document.getElementById("lm-studio-deals");
    if (!root) return;
    var specialId = Number(root.getAttribute("data-special-id"));
    var form = root.querySelector("[data-deal-form]");
    var errorBox = root.querySelector("[data-deal-error]");
    var activeList = root.querySelector("[data-deal-active]");
    var historyList = root.querySelector("[data-deal-history]");
    var lineupList = root.querySelector("[data-deal-lineup]");
    var products = {};
    var order = [];
    var dealList = [];
    var pinnedId = null;
    var live = false; // the realtime socket is open (pinning goes through it)

    function el(tag, cls, text) {
      var node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function showError(text) {
      errorBox.textContent = text || "";
      errorBox.hidden = !text;
    }

    /* Why a deal was refused, in the page's language when the code is known. */
    function reason(code, message) {
      var key = "deals.refusal." + code;
      var text = LM.t(key);
      return text === key ? message : text;
    }

    function renderLineup() {
      var select = form.elements.product_id;
      var chosen = select.value;
      select.textContent = "";
      lineupList.textContent = "";
      order.forEach(function (id) {
        var product = products[id];
        var option = el("option", "", LM.localName(product) + " · " + LM.formatKRW(product.price));
        option.value = String(id);
        select.appendChild(option);
        var li = el("li");
        li.setAttribute("data-product-id", String(id));
        li.appendChild(el("span", "", LM.localName(product) + " · " + LM.formatKRW(product.price) + " · " +
          LM.t("shop.in_stock", { count: product.stock })));
        var pin = el("button", "btn btn--small", id === pinnedId ? LM.t("deals.pinned") : LM.t("deals.pin"));
        pin.type = "button";
        pin.disabled = id === pinnedId || !live;
        pin.setAttribute("data-pin", String(id));
        li.appendChild(pin);
        lineupList.appendChild(li);
      });
      if (chosen) select.value = chosen;
    }

    function renderDeals() {
      activeList.textContent = "";
      historyList.textContent = "";
      var active = dealList.filter(function (d) { return d.active; });
      if (!active.length) activeList.appendChild(el("li", "muted", LM.t("deals.none")));
      dealList.forEach(function (deal) {
        var product = products[deal.product_id] || { name: "#" + deal.product_id };
        var li = el("li");
        li.setAttribute("data-deal-id", String(deal.id));
        li.appendChild(el("span", "", LM.localName(product) + " · " + LM.t("shop.off", { pct: deal.discount_pct }) +
          " · " + LM.formatKRW(deal.price) + (deal.active ? " · " + LM.formatTime(deal.ends_at) : "")));
        li.appendChild(el("span", "studio-deals__sold",
          LM.t("deals.sold", { sold: deal.quantity - deal.remaining, quantity: deal.quantity })));
        if (deal.active) {
          var end = el("button", "btn btn--danger btn--small", LM.t("deals.end"));
          end.type = "button";
          end.setAttribute("data-end", String(deal.id));
          li.appendChild(end);
          activeList.appendChild(li);
        } else {
          historyList.appendChild(li);
        }
      });
    }

    function loadDeals() {
      return LM.api("/api/v1/specials/" + specialId + "/deals").then(function (data) {
        dealList = data.items;
        renderDeals();
      });
    }

    function load() {
      return LM.api("/api/v1/specials/" + specialId + "/lineup").then(function (data) {
        products = {};
        order = [];
        data.items.forEach(function (p) {
          products[p.id] = p;
          order.push(p.id);
        });
        pinnedId = data.pinned_product_id;
        renderLineup();
        return loadDeals();
      }, function (err) {
        showError(err.message);
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      showError("");
      var button = form.querySelector("[data-deal-start]");
      button.disabled = true;
      LM.api("/api/v1/specials/" + specialId + "/deals", {
        method: "POST",
        body: {
          product_id: Number(form.elements.product_id.value),
          discount_pct: parseInt(form.elements.discount_pct.value, 10),
          duration_s: parseInt(form.elements.minutes.value, 10) * 60,
          quantity: parseInt(form.elements.quantity.value, 10),
          per_buyer_limit: parseInt(form.elements.per_buyer_limit.value, 10),
        },
      }).then(function () {
        LM.announce(LM.t("deals.started"));
        return loadDeals();
      }, function (err) {
        showError(reason(err.code, err.message));
      }).then(function () {
        button.disabled = false;
      });
    });

    root.addEventListener("click", function (event) {
      var target = event.target;
      if (target.hasAttribute("data-end")) {
        target.disabled = true;
        LM.api("/api/v1/specials/" + specialId + "/deals/" + target.getAttribute("data-end"), {
          method: "DELETE",
        }).then(function () {
          LM.announce(LM.t("deals.ended"));
          return loadDeals();
        }, function (err) {
          target.disabled = false;
          showError(err.message);
        });
      } else if (target.hasAttribute("data-pin") && LM.realtime) {
        var sent = LM.realtime.send({ type: "pin", product_id: Number(target.getAttribute("data-pin")) });
        if (!sent) showError(LM.t("common.network_error"));
      }
    });

    if (LM.realtime && typeof LM.realtime.on === "function") {
      LM.realtime.on("hello", function (snap) {
        live = true;
        if (snap.pinned_product) pinnedId = snap.pinned_product.id;
        renderLineup();
      });
      LM.realtime.on("close", function () {
        live = false;
        renderLineup();
      });
      LM.realtime.on("product.pinned", function (ev) {
        pinnedId = ev.product ? ev.product.id : (ev.product_id || null);
        renderLineup();
      });
      /* A deal planned in the calendar was due but refused (e.g. the product already had
         a deal running): say which and why, here where the host can act on it. */
      LM.realtime.on("planned_deal.refused", function (ev) {
        var product = products[ev.product_id] || { name: "#" + ev.product_id };
        showError(LM.t("deals.planned_refused", { name: LM.localName(product), reason: reason(ev.code, ev.message) }));
      });
      LM.realtime.on("deal.started", loadDeals);
      LM.realtime.on("deal.ended", loadDeals);
      LM.realtime.on("stock", function (ev) {
        if (products[ev.product_id]) products[ev.product_id].stock = ev.stock;
        dealList.forEach(function (deal) {
          if (deal.id === ev.deal_id) deal.remaining = ev.remaining;
        });
        renderDeals();
      });
    }

    load();
  });
})();
