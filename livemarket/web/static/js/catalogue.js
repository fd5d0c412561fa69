/* The console's catalogue: products (edit, picture, archive) and partner platforms.
 * Reads and writes through the JSON API. A refusal is shown beside its field in the
 * page's language and nothing is saved; an edit based on an old version is refused by the
 * server (If-Match) and the page says so and reloads the row.
 */
(function () {
  "use strict";

  var LM = window.LM;
  var FIELD_HELP = {
    name: LM.t("catalogue.check_name"),
    name_en: LM.t("catalogue.check_name_en"),
    maker: LM.t("catalogue.check_maker"),
    price: LM.t("catalogue.check_price"),
    stock: LM.t("catalogue.check_stock"),
    category: LM.t("catalogue.check_category"),
    description: LM.t("catalogue.check_description"),
    image: LM.t("catalogue.check_image"),
    slug: LM.t("catalogue.check_slug"),
    name_ko: LM.t("catalogue.check_name_ko"),
    url: LM.t("catalogue.check_url"),
  };
  var CODE_HELP = {
    precondition_failed: LM.t("catalogue.stale"),
    version_conflict: LM.t("catalogue.stale"),
    slug_taken: LM.t("catalogue.slug_taken"),
    image_too_large: LM.t("catalogue.image_too_large"),
    image_unsupported: LM.t("catalogue.image_unsupported"),
  };
  var CATEGORY_NAMES = {
    food: LM.t("figures.category_food"),
    beauty: LM.t("figures.category_beauty"),
    living: LM.t("figures.category_living"),
    fashion: LM.t("figures.category_fashion"),
  };
  var products = [];
  var platforms = [];
  var editing = null;
  var editingPlatform = null;

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function notice(text) {
    var node = $("#lm-catalogue-notice");
    node.textContent = text;
    node.hidden = !text;
  }

  function refusal(form, error) {
    var field = error.details && error.details.field ? String(error.details.field).split(".")[0] : "";
    if (CODE_HELP[error.code]) {
      LM.showFieldError(form, field || "_form", CODE_HELP[error.code]);
    } else if (field && FIELD_HELP[field]) {
      LM.showFieldError(form, field, FIELD_HELP[field]);
    } else {
      LM.showFieldError(form, "_form", error.message);
    }
  }

  /* The page's own checks, before anything is sent: the same rules as the server's. */
  function checkFields(form, names) {
    for (var i = 0; i < names.length; i++) {
      var input = form.elements[names[i]];
      if (input && input.willValidate && !input.checkValidity()) {
        LM.showFieldError(form, names[i], FIELD_HELP[names[i]]);
        return false;
      }
    }
    return true;
  }

  // --- products ---------------------------------------------------------------------------

  function productName(p) {
    return LM.localName(p);
  }

  function drawProducts() {
    var filter = $("[data-product-filter]").value;
    var rows = $("[data-product-rows]");
    rows.textContent = "";
    products
      .filter(function (p) {
        return !filter || p.category === filter;
      })
      .forEach(function (p) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-product-id", p.id);
        var cells = [
          null,
          productName(p),
          CATEGORY_NAMES[p.category] || p.category,
          LM.formatKRW(p.price),
          String(p.stock),
          p.archived ? LM.t("catalogue.archived") : LM.t("catalogue.on_sale"),
        ];
        cells.forEach(function (text, index) {
          var td = document.createElement(index === 1 ? "th" : "td");
          if (index === 1) td.setAttribute("scope", "row");
          if (index === 0) {
            if (p.image_url) {
              var img = document.createElement("img");
              img.className = "catalogue-thumb";
              img.src = p.image_url;
              img.alt = "";
              td.appendChild(img);
            }
          } else {
            td.textContent = text;
          }
          tr.appendChild(td);
        });
        var action = document.createElement("td");
        var edit = document.createElement("button");
        edit.type = "button";
        edit.className = "btn btn--quiet btn--small";
        edit.textContent = LM.t("catalogue.edit");
        edit.setAttribute("aria-label", LM.t("catalogue.edit") + ": " + productName(p));
        edit.addEventListener("click", function () {
          openProduct(p);
        });
        action.appendChild(edit);
        tr.appendChild(action);
        rows.appendChild(tr);
      });
  }

  function loadProducts() {
    var archived = $("[data-product-archived]").checked;
    return LM.api("/api/v1/products?limit=1000" + (archived ? "&include_archived=true" : "")).then(function (page) {
      products = page.items;
      drawProducts();
    });
  }

  function openProduct(product) {
    editing = product || null;
    var form = $("#lm-product-form");
    LM.clearFieldErrors(form);
    form.reset();
    ["name", "name_en", "maker", "price", "stock", "category", "description"].forEach(function (name) {
      if (product) form.elements[name].value = product[name];
    });
    var image = $("[data-product-image]", form);
    image.hidden = !(product && product.image_url);
    if (product && product.image_url) image.src = product.image_url;
    var archive = $("[data-product-archive]", form);
    archive.hidden = !product;
    if (product) archive.textContent = archive.getAttribute(product.archived ? "data-restore" : "data-archive");
    $("#lm-product-dialog").showModal();
    form.elements.name.focus();
  }

  function productBody(form) {
    var body = {};
    ["name", "name_en", "maker", "category", "description"].forEach(function (name) {
      body[name] = form.elements[name].value;
    });
    body.price = Number(form.elements.price.value);
    body.stock = Number(form.elements.stock.value);
    return body;
  }

  function uploadImage(product, file) {
    return fetch("/api/v1/products/" + product.id + "/image", {
      method: "PUT",
      body: file,
      headers: { "X-CSRF-Token": LM.csrfToken(), "Content-Type": file.type || "application/octet-stream" },
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new LM.ApiError(response.status, data.error.code, data.error.message, data.error);
        return data;
      });
    });
  }

  function saveProduct(event) {
    event.preventDefault();
    var form = $("#lm-product-form");
    LM.clearFieldErrors(form);
    if (!checkFields(form, ["name", "name_en", "maker", "price", "stock"])) return;
    var body = productBody(form);
    var request = editing
      ? LM.api("/api/v1/products/" + editing.id, {
          method: "PATCH",
          body: body,
          headers: { "If-Match": '"' + editing.version + '"' },
        })
      : LM.api("/api/v1/products", { method: "POST", body: body });
    request
      .then(function (saved) {
        var file = form.elements.image.files[0];
        return file ? uploadImage(saved, file) : saved;
      })
      .then(
        function () {
          $("#lm-product-dialog").close();
          notice(LM.t("catalogue.saved"));
          return loadProducts();
        },
        function (error) {
          refusal(form, error);
          if (error.code === "precondition_failed") loadProducts();
        }
      );
  }

  function toggleArchive() {
    var form = $("#lm-product-form");
    LM.clearFieldErrors(form);
    LM.api("/api/v1/products/" + editing.id, {
      method: "PATCH",
      body: { archived: !editing.archived },
      headers: { "If-Match": '"' + editing.version + '"' },
    }).then(
      function () {
        $("#lm-product-dialog").close();
        notice(LM.t("catalogue.saved"));
        loadProducts();
      },
      function (error) {
        refusal(form, error);
      }
    );
  }

  // --- platforms --------------------------------------------------------------------------

  function drawPlatforms() {
    var rows = $("[data-platform-rows]");
    rows.textContent = "";
    platforms.forEach(function (p) {
      var tr = document.createElement("tr");
      [p.slug, p.name, p.name_ko, p.url].forEach(function (text, index) {
        var td = document.createElement(index === 0 ? "th" : "td");
        td.textContent = text || "";
        tr.appendChild(td);
      });
      var action = document.createElement("td");
      var edit = document.createElement("button");
      edit.type = "button";
      edit.className = "btn btn--quiet btn--small";
      edit.textContent = LM.t("catalogue.edit");
      edit.setAttribute("aria-label", LM.t("catalogue.edit") + ": " + p.name);
      edit.addEventListener("click", function () {
        openPlatform(p);
      });
      action.appendChild(edit);
      tr.appendChild(action);
      rows.appendChild(tr);
    });
  }

  function loadPlatforms() {
    return LM.api("/api/v1/platforms").then(function (page) {
      platforms = page.items;
      drawPlatforms();
    });
  }

  function openPlatform(platform) {
    editingPlatform = platform || null;
    var form = $("#lm-platform-form");
    LM.clearFieldErrors(form);
    form.reset();
    ["slug", "name", "name_ko", "url"].forEach(function (name) {
      if (platform) form.elements[name].value = platform[name] || "";
    });
    $("#lm-platform-dialog").showModal();
    form.elements.slug.focus();
  }

  function savePlatform(event) {
    event.preventDefault();
    var form = $("#lm-platform-form");
    LM.clearFieldErrors(form);
    if (!checkFields(form, ["slug", "name", "name_ko", "url"])) return;
    var body = {};
    ["slug", "name", "name_ko", "url"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value || name !== "url") body[name] = value;
    });
    var request = editingPlatform
      ? LM.api("/api/v1/platforms/" + editingPlatform.id, { method: "PATCH", body: body })
      : LM.api("/api/v1/platforms", { method: "POST", body: body });
    request.then(
      function () {
        $("#lm-platform-dialog").close();
        notice(LM.t("catalogue.saved"));
        loadPlatforms();
      },
      function (error) {
        refusal(form, error);
      }
    );
  }

  // --- wiring -----------------------------------------------------------------------------

  document.querySelectorAll("[data-dialog-close]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.closest("dialog").close();
    });
  });
  $("[data-product-new]").addEventListener("click", function () {
    openProduct(null);
  });
  $("[data-platform-new]").addEventListener("click", function () {
    openPlatform(null);
  });
  $("[data-product-filter]").addEventListener("change", drawProducts);
  $("[data-product-archived]").addEventListener("change", loadProducts);
  $("#lm-product-form").addEventListener("submit", saveProduct);
  $("[data-product-archive]").addEventListener("click", toggleArchive);
  $("#lm-platform-form").addEventListener("submit", savePlatform);
  document.body.setAttribute("data-lm-catalogue", "loading");
  Promise.all([loadProducts(), loadPlatforms()]).then(function () {
    document.body.setAttribute("data-lm-catalogue", "ready");
  });
})();
