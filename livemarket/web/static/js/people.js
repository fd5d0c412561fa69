/* The console's accounts: create hosts and operators, give a new password or stream key
 * (shown once, in a dialog), disable and enable. Refusals are shown beside the field. */
(function () {
  "use strict";

  var LM = window.LM;
  var ROLE_NAMES = { host: LM.t("people.role_host"), operator: LM.t("people.role_operator") };
  var FIELD_HELP = {
    username: LM.t("people.check_username"),
    display_name: LM.t("people.check_display_name"),
  };
  var CODE_HELP = {
    username_taken: [LM.t("people.username_taken"), "username"],
    username_invalid: [LM.t("people.check_username"), "username"],
    display_name_invalid: [LM.t("people.check_display_name"), "display_name"],
    cannot_disable_self: [LM.t("people.cannot_disable_self"), "_form"],
  };
  var people = [];

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function notice(text) {
    var node = $("#lm-people-notice");
    node.textContent = text;
    node.hidden = !text;
  }

  function showSecret(title, help, value) {
    var dialog = $("#lm-secret-dialog");
    $("[data-secret-title]", dialog).textContent = title;
    $("[data-secret-help]", dialog).textContent = help;
    $("[data-secret-value]", dialog).textContent = value;
    dialog.showModal();
  }

  function action(label, person, run) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn--quiet btn--small";
    button.textContent = label;
    button.setAttribute("aria-label", label + ": " + person.display_name);
    button.addEventListener("click", run);
    return button;
  }

  function failed(error) {
    var known = CODE_HELP[error.code];
    notice(known ? known[0] : error.message);
  }

  function draw() {
    var rows = $("[data-people-rows]");
    rows.textContent = "";
    people.forEach(function (person) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-person", person.username);
      [person.display_name, person.username, ROLE_NAMES[person.role] || person.role,
       person.disabled ? LM.t("people.disabled") : LM.t("people.active")].forEach(function (text, index) {
        var cell = document.createElement(index === 0 ? "th" : "td");
        if (index === 0) cell.setAttribute("scope", "row");
        cell.textContent = text;
        tr.appendChild(cell);
      });
      var actions = document.createElement("td");
      actions.className = "people-actions";
      actions.appendChild(action(LM.t("people.new_password"), person, function () {
        LM.api("/api/v1/users/" + person.id + "/password", { method: "POST" }).then(function (result) {
          showSecret(LM.t("people.new_password"), LM.t("people.password_help", { name: person.display_name }), result.password);
        }, failed);
      }));
      if (person.role === "host" && !person.disabled) {
        actions.appendChild(action(LM.t("people.new_stream_key"), person, function () {
          LM.api("/api/v1/users/" + person.id + "/stream-key", { method: "POST" }).then(function (result) {
            showSecret(LM.t("people.new_stream_key"), LM.t("people.key_help", { name: person.display_name }), result.stream_key);
          }, failed);
        }));
      }
      actions.appendChild(action(person.disabled ? LM.t("people.enable") : LM.t("people.disable"), person, function () {
        LM.api("/api/v1/users/" + person.id, { method: "PATCH", body: { disabled: !person.disabled } }).then(function () {
          notice(LM.t("catalogue.saved"));
          load();
        }, failed);
      }));
      tr.appendChild(actions);
      rows.appendChild(tr);
    });
  }

  function load() {
    return LM.api("/api/v1/users").then(function (page) {
      people = page.items;
      draw();
    });
  }

  $("#lm-person-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    LM.clearFieldErrors(form);
    var names = ["username", "display_name"];
    for (var i = 0; i < names.length; i++) {
      var input = form.elements[names[i]];
      if (!input.checkValidity() || !input.value.trim()) {
        LM.showFieldError(form, names[i], FIELD_HELP[names[i]]);
        return;
      }
    }
    var body = { username: form.elements.username.value.trim(), display_name: form.elements.display_name.value.trim(), role: form.elements.role.value };
    LM.api("/api/v1/users", { method: "POST", body: body }).then(
      function (made) {
        form.reset();
        showSecret(LM.t("people.created"), LM.t("people.password_help", { name: made.display_name }), made.password);
        load();
      },
      function (error) {
        var known = CODE_HELP[error.code];
        var field = error.details && error.details.field ? String(error.details.field) : "";
        if (known) LM.showFieldError(form, known[1], known[0]);
        else if (FIELD_HELP[field]) LM.showFieldError(form, field, FIELD_HELP[field]);
        else LM.showFieldError(form, "_form", error.message);
      }
    );
  });
  $("[data-secret-close]").addEventListener("click", function () {
    $("#lm-secret-dialog").close();
  });
  $("[data-secret-copy]").addEventListener("click", function () {
    var value = $("[data-secret-value]").textContent;
    if (navigator.clipboard) navigator.clipboard.writeText(value).catch(function () {});
  });
  load().then(function () {
    document.body.setAttribute("data-lm-people", "ready");
  });
})();
