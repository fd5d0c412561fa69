/* Watch-page checkout: line-up cards, the flash-deal banner and the buy-now sheet.
 *
 * State comes from GET /api/v1/specials/{id}/lineup, then stays current through the
 * realtime socket (LM.realtime): hello, product.pinned, deal.started, deal.ended, stock.
 * The countdown runs against the server's clock (LM.realtime.serverNow()), not the
 * viewer's. The client never sends a price: only product ids and quantities.
 * User text is set with textContent only. On the replay page (data-replay) orders are
 * not credited to the ended special and no deal applies: today's list price is charged.
 */
(function () {
  "use strict";

  var LM = window.LM;

  LM.onReady(function () {
    var root = document.getElementById("lm-shop");
    if (!root) return;
    var specialId = Number(root.getAttribute("data-special-id"));
    /* A replay sells at today's price: its orders are not credited to the ended show. */
    var credited = !root.hasAttribute("data-replay");
    var products = {};
    var order = [];
    var pinnedId = null;
    var deals = {}; // product_id -> deal.started frame (remaining kept current)
    var sheetProduct = null;
    var idemKey = null;
    var lastOrder = null;

    var cards = document.getElementById("lm-shop-cards");
    var banner = document.getElementById("lm-deal-banner");
    var message = document.getElementById("lm-shop-message");
    var sheet = document.getElementById("lm-buy-sheet");
    var form = sheet.querySelector("[data-sheet-form]");
    var q = function (node, sel) { return node.querySelector(sel); };

    function serverNow() {
      if (LM.realtime && typeof LM.realtime.serverNow === "function") {
        return Number(LM.realtime.serverNow());
      }
      return Date.now();
    }

    function newKey() {
      if (window.crypto && typeof window.crypto.randomUUID === "function") {
        return window.crypto.randomUUID();
      }
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    }

    function say(text) {
      message.textContent = text;
      message.hidden = !text;
      if (text) LM.announce(text);
    }

    function activeDeal(productId) {
      var deal = deals[productId];
      if (!deal) return null;
      if (Date.parse(deal.ends_at) <= serverNow() || deal.remaining <= 0) return null;
      return deal;
    }

    function priceOf(product) {
      var deal = activeDeal(product.id);
      return deal ? deal.price : product.price;
    }

    function sortedIds() {
      var ids = order.slice();
      if (pinnedId !== null && products[pinnedId]) {
        ids = [pinnedId].concat(ids.filter(function (id) { return id !== pinnedId; }));
      }
      return ids;
    }

    function el(tag, cls, text) {
      var node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text !== undefined) node.textContent = text;
      return node;
    }

    function renderCards() {
      cards.textContent = "";
      var ids = sortedIds();
      if (!ids.length) {
        cards.appendChild(el("li", "muted", LM.t("shop.empty")));
        return;
      }
      ids.forEach(function (id) {
        var product = products[id];
        var deal = activeDeal(id);
        var li = el("li", "shop-card" + (id === pinnedId ? " shop-card--pinned" : ""));
        li.setAttribute("data-product-id", String(id));
        var info = el("div");
        var name = el("p", "shop-card__name");
        if (id === pinnedId) name.appendChild(el("span", "shop-card__tag", LM.t("shop.pinned")));
        if (deal) name.appendChild(el("span", "shop-card__tag", LM.t("shop.off", { pct: deal.discount_pct })));
        name.appendChild(document.createTextNode(LM.localName(product)));
        info.appendChild(name);
        var meta = el("p", "shop-card__meta");
        var price = el("span", "price", LM.formatKRW(priceOf(product)));
        price.setAttribute("data-price", "");
        meta.appendChild(price);
        if (deal) {
          meta.appendChild(document.createTextNode(" "));
          meta.appendChild(el("s", "price--old", LM.formatKRW(product.price)));
        }
        var soldOut = product.stock <= 0;
        var left = deal ? LM.t("shop.deal_left", { count: deal.remaining })
          : soldOut ? LM.t("shop.sold_out") : LM.t("shop.in_stock", { count: product.stock });
        meta.appendChild(document.createTextNode(" · " + left));
        info.appendChild(meta);
        li.appendChild(info);
        var button = el("button", "btn btn--primary btn--small", soldOut ? LM.t("shop.sold_out") : LM.t("shop.buy"));
        button.type = "button";
        button.disabled = soldOut;
        button.setAttribute("data-buy", String(id));
        li.appendChild(button);
        cards.appendChild(li);
      });
    }

    function bannerDeal() {
      var chosen = null;
      if (pinnedId !== null && activeDeal(pinnedId)) return deals[pinnedId];
      Object.keys(deals).forEach(function (pid) {
        var deal = activeDeal(Number(pid));
        if (deal && (!chosen || Date.parse(deal.ends_at) < Date.parse(chosen.ends_at))) chosen = deal;
      });
      return chosen;
    }

    function clock(ms) {
      var total = Math.max(0, Math.ceil(ms / 1000));
      var h = Math.floor(total / 3600);
      var m = Math.floor((total % 3600) / 60);
      var s = total % 60;
      var mm = (h ? ("0" + m).slice(-2) : String(m));
      return (h ? h + ":" : "") + mm + ":" + ("0" + s).slice(-2);
    }

    function renderBanner() {
      var deal = bannerDeal();
      if (!deal) {
        banner.hidden = true;
        banner.removeAttribute("data-deal-id");
        return;
      }
      var product = products[deal.product_id] || { name: "" };
      banner.hidden = false;
      banner.setAttribute("data-deal-id", String(deal.deal_id));
      q(banner, "[data-deal-name]").textContent = LM.localName(product);
      q(banner, "[data-deal-off]").textContent = LM.t("shop.off", { pct: deal.discount_pct });
      q(banner, "[data-deal-price]").textContent = LM.formatKRW(deal.price);
      q(banner, "[data-deal-original]").textContent = LM.formatKRW(deal.original_price);
      q(banner, "[data-deal-left]").textContent = LM.t("shop.deal_left", { count: deal.remaining });
      q(banner, "[data-deal-buy]").setAttribute("data-buy", String(deal.product_id));
      tick();
    }

    function tick() {
      var id = banner.getAttribute("data-deal-id");
      if (!id || banner.hidden) return;
      var deal = bannerDeal();
      if (!deal || String(deal.deal_id) !== id) {
        render();
        return;
      }
      var left = Date.parse(deal.ends_at) - serverNow();
      q(banner, "[data-deal-countdown]").textContent = LM.t("shop.deal_ends_in", { time: clock(left) });
    }

    function render() {
      renderCards();
      renderBanner();
      if (sheet.open && sheetProduct !== null) updateSheetPrice();
    }

    /* --- the buy-now sheet ------------------------------------------------------------ */

    function quantity() {
      var value = parseInt(form.elements.quantity.value, 10);
      return isNaN(value) ? 0 : value;
    }

    function updateSheetPrice() {
      var product = products[sheetProduct];
      if (!product) return;
      var deal = activeDeal(sheetProduct);
      var unit = priceOf(product);
      q(sheet, "[data-sheet-price]").textContent = deal
        ? LM.formatKRW(unit) + " · " + LM.t("shop.list_price", { price: LM.formatKRW(product.price) })
        : LM.formatKRW(unit);
      q(sheet, "[data-sheet-total]").textContent = LM.formatKRW(unit * Math.max(quantity(), 0));
      var max = deal ? Math.min(deal.per_buyer_limit || 20, deal.remaining, 20) : Math.min(product.stock, 20);
      form.elements.quantity.max = String(Math.max(max, 1));
    }

    function showError(text) {
      var node = q(sheet, "[data-sheet-error]");
      node.textContent = text || "";
      node.hidden = !text;
    }

    function openSheet(productId) {
      if (!products[productId]) return;
      sheetProduct = productId;
      idemKey = newKey(); // one key per purchase attempt: a retry of it returns the same order
      q(sheet, "[data-sheet-title]").textContent = LM.t("shop.sheet_title", { name: LM.localName(products[productId]) });
      q(sheet, "[data-sheet-form-view]").hidden = false;
      q(sheet, "[data-sheet-done-view]").hidden = true;
      form.elements.quantity.value = "1";
      showError("");
      updateSheetPrice();
      if (typeof sheet.showModal === "function") sheet.showModal();
      else sheet.setAttribute("open", "");
      form.elements.quantity.focus();
    }

    function closeSheet() {
      if (typeof sheet.close === "function") sheet.close();
      else sheet.removeAttribute("open");
      sheetProduct = null;
    }

    function refusal(err) {
      switch (err.code) {
        case "sold_out": return LM.t("shop.sold_out");
        case "deal_sold_out": return LM.t("shop.deal_sold_out");
        case "deal_ended": return LM.t("shop.deal_ended");
        case "deal_limit_reached": return LM.t("shop.limit_reached") + " " + err.message;
        default: return LM.t("shop.error", { message: err.message });
      }
    }

    function showDone(orderView) {
      lastOrder = orderView;
      q(sheet, "[data-sheet-form-view]").hidden = true;
      q(sheet, "[data-sheet-done-view]").hidden = false;
      q(sheet, "[data-sheet-done]").textContent = LM.t("shop.done", {
        id: orderView.id,
        total: LM.formatKRW(orderView.total),
        time: LM.formatTime(orderView.hold_expires_at),
      });
      var payment = orderView.payment || {};
      q(sheet, "[data-sheet-payment]").textContent =
        [payment.text, payment.account, payment.reference].filter(Boolean).join(" · ");
      var note = q(sheet, "[data-sheet-note]");
      note.hidden = true;
      (orderView.notes || []).forEach(function (n) {
        note.textContent = LM.t("shop.price_held", { time: LM.formatTime(n.until) });
        note.hidden = false;
      });
      LM.announce(q(sheet, "[data-sheet-done]").textContent);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sheetProduct === null) return;
      var confirmButton = q(sheet, "[data-sheet-confirm]");
      confirmButton.disabled = true;
      showError(LM.t("shop.placing"));
      LM.api("/api/v1/orders", {
        method: "POST",
        headers: { "Idempotency-Key": idemKey },
        body: {
          special_id: credited ? specialId : undefined,
          items: [{ product_id: sheetProduct, quantity: quantity() }],
          buyer: {
            name: form.elements.name.value,
            phone: form.elements.phone.value,
            address: form.elements.address.value,
          },
          payment_method: form.elements.payment_method.value,
        },
      }).then(function (orderView) {
        showError("");
        showDone(orderView);
      }, function (err) {
        // A network failure keeps the key: pressing confirm again returns the same order.
        showError(err.status === 0 ? LM.t("shop.retry") : refusal(err));
        if (err.status !== 0) idemKey = newKey();
      }).then(function () {
        confirmButton.disabled = false;
      });
    });

    form.elements.quantity.addEventListener("input", updateSheetPrice);
    sheet.querySelectorAll("[data-sheet-close]").forEach(function (button) {
      button.addEventListener("click", closeSheet);
    });
    root.addEventListener("click", function (event) {
      var target = event.target.closest ? event.target.closest("[data-buy]") : null;
      if (target && !target.disabled) openSheet(Number(target.getAttribute("data-buy")));
    });

    /* --- live updates ------------------------------------------------------------------ */

    function setDeals(list) {
      deals = {};
      if (!credited) return; // a replay: the show's deals are over, whatever is still open
      (list || []).forEach(function (deal) { deals[deal.product_id] = deal; });
    }

    function load() {
      return LM.api("/api/v1/specials/" + specialId + "/lineup").then(function (data) {
        products = {};
        order = [];
        data.items.forEach(function (p) {
          products[p.id] = p;
          order.push(p.id);
        });
        if (data.pinned_product_id !== null && pinnedId === null) pinnedId = data.pinned_product_id;
        setDeals(data.deals);
        render();
      }, function (err) {
        say(LM.t("shop.error", { message: err.message }));
      });
    }

    if (LM.realtime && typeof LM.realtime.on === "function") {
      LM.realtime.on("hello", function (snap) {
        if (snap.pinned_product) pinnedId = snap.pinned_product.id;
        if (snap.deals) setDeals(snap.deals);
        render();
      });
      LM.realtime.on("product.pinned", function (ev) {
        pinnedId = ev.product ? ev.product.id : (ev.product_id || null);
        render();
      });
      LM.realtime.on("deal.started", function (ev) {
        deals[ev.product_id] = ev;
        say("");
        render();
        LM.announce(LM.t("shop.deal") + " " + LM.t("shop.off", { pct: ev.discount_pct }));
      });
      LM.realtime.on("deal.ended", function (ev) {
        var current = deals[ev.product_id];
        if (current && current.deal_id === ev.deal_id) delete deals[ev.product_id];
        say(ev.reason === "sold_out" ? LM.t("shop.deal_sold_out") : LM.t("shop.deal_ended"));
        if (lastOrder && lastOrder.status === "reserved" && lastOrder.lines.some(function (l) {
          return l.deal_id === ev.deal_id;
        })) {
          var note = q(sheet, "[data-sheet-note]");
          note.textContent = LM.t("shop.price_held", { time: LM.formatTime(lastOrder.hold_expires_at) });
          note.hidden = false;
        }
        render();
      });
      /* The show is over: its deals are too; the banner goes with them. */
      var over = function (ev) {
        if (ev.status !== "ended" && ev.status !== "cancelled") return;
        var had = Object.keys(deals).length > 0;
        deals = {};
        if (had) say(LM.t("shop.show_over"));
        render();
      };
      LM.realtime.on("special.status", over);
      LM.realtime.on("hello", over);
      LM.realtime.on("stock", function (ev) {
        if (products[ev.product_id]) products[ev.product_id].stock = ev.stock;
        var deal = deals[ev.product_id];
        if (deal && ev.deal_id === deal.deal_id) deal.remaining = ev.remaining;
        render();
      });
    }

    window.setInterval(tick, 250);
    load();
  });
})();
