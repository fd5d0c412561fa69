/* LiveMarket shared page helpers: window.LM.
 *
 * Loaded first (blocking, in <head>) on every page, so panel scripts can rely on:
 *   LM.bootstrap()            the page's JSON bootstrap (#lm-bootstrap): lang, csrf_token,
 *                             timezone, and on watch/studio pages special_id, special,
 *                             is_host, ws_url, server_now
 *   LM.t(key, params)         translated text ("chat.send", {name: "…"})
 *   LM.api(path, options)     fetch JSON with the CSRF header; rejects with LM.ApiError
 *   LM.formatKRW(12900)       "₩12,900"
 *   LM.formatTime(iso)        "19:30" in the server's display zone (Asia/Seoul)
 *   LM.formatDate(iso), LM.formatDateTime(iso)
 *   LM.localName(product)     its name in the page's language (name_en in English)
 *   LM.icon(name)             an inline SVG icon (<svg class="icon">), decorative
 *   LM.announce(text)         read out by screen readers (polite live region)
 *   LM.clearFieldErrors(form), LM.showFieldError(form, field, text)
 *                             a refusal beside its field ([data-error-for], aria-invalid;
 *                             "_form" for the whole form)
 *   LM.onReady(fn)            run after the DOM is parsed
 *   LM.setLanguage(lang)      switch ko/en (cookie) and reload
 * Never put user text into innerHTML: use textContent.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var cache = {};
  var UNSAFE = { POST: true, PUT: true, PATCH: true, DELETE: true };

  function readJSON(id) {
    if (!(id in cache)) {
      var node = document.getElementById(id);
      try {
        cache[id] = node ? JSON.parse(node.textContent || "{}") : {};
      } catch (err) {
        cache[id] = {};
      }
    }
    return cache[id];
  }

  LM.bootstrap = function () {
    return readJSON("lm-bootstrap");
  };

  LM.lang = function () {
    return LM.bootstrap().lang || document.documentElement.lang || "ko";
  };

  LM.timezone = function () {
    return LM.bootstrap().timezone || "Asia/Seoul";
  };

  LM.t = function (key, params) {
    var text = readJSON("lm-i18n")[key];
    if (typeof text !== "string") return key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
      });
    }
    return text;
  };

  /** A product's (or platform's) name in the page's language: see i18n.local_name. */
  LM.localName = function (item) {
    return LM.lang() === "en" && item.name_en ? item.name_en : item.name;
  };

  var SVG = "http://www.w3.org/2000/svg";
  /** One inline SVG icon from the page's sprite (templates/_icons.html), decorative. */
  LM.icon = function (name) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS(SVG, "use");
    use.setAttribute("href", "#lm-i-" + name);
    svg.appendChild(use);
    return svg;
  };

  LM.csrfToken = function () {
    var boot = LM.bootstrap();
    if (boot.csrf_token) return boot.csrf_token;
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  };

  /* After login the server issues a new session and token. */
  LM.setCsrfToken = function (token) {
    LM.bootstrap().csrf_token = token;
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) meta.setAttribute("content", token);
  };

  function ApiError(status, code, message, details) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details || {};
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;
  LM.ApiError = ApiError;

  /* fetch + JSON: options {method, body (object -> JSON), headers}. Resolves with the
     parsed body (null for 204); rejects with LM.ApiError (status 0 = network failure). */
  LM.api = function (path, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var headers = { Accept: "application/json" };
    var extra = options.headers || {};
    Object.keys(extra).forEach(function (name) {
      headers[name] = extra[name];
    });
    var body = options.body;
    if (body !== undefined && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    if (UNSAFE[method]) headers["X-CSRF-Token"] = LM.csrfToken();
    return fetch(path, {
      method: method,
      headers: headers,
      body: body,
      credentials: "same-origin",
      signal: options.signal,
    }).then(
      function (response) {
        if (response.status === 204) return null;
        return response.text().then(function (text) {
          var data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch (err) {
            data = null;
          }
          if (response.ok) return data;
          var error = (data && data.error) || {};
          throw new ApiError(
            response.status,
            error.code || "http_" + response.status,
            error.message || LM.t("common.error"),
            error
          );
        });
      },
      function (err) {
        if (err && err.name === "AbortError") throw err;
        throw new ApiError(0, "network", LM.t("common.network_error"));
      }
    );
  };

  var krw = new Intl.NumberFormat("ko-KR", { maximumFractionDigits: 0 });
  LM.formatKRW = function (amount) {
    var value = Math.round(Number(amount) || 0);
    return (value < 0 ? "-" : "") + "₩" + krw.format(Math.abs(value));
  };

  function formatter(options) {
    var opts = { timeZone: LM.timezone() };
    Object.keys(options).forEach(function (k) {
      opts[k] = options[k];
    });
    return new Intl.DateTimeFormat(LM.lang() === "en" ? "en-GB" : "ko-KR", opts);
  }

  LM.formatTime = function (iso) {
    return formatter({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
  };

  LM.formatDate = function (iso) {
    return formatter({ month: "short", day: "numeric", weekday: "short" }).format(new Date(iso));
  };

  LM.formatDateTime = function (iso) {
    return LM.formatDate(iso) + " " + LM.formatTime(iso);
  };

  LM.clearFieldErrors = function (form) {
    form.querySelectorAll("[data-error-for]").forEach(function (node) {
      node.hidden = true;
      node.textContent = "";
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
  };

  LM.showFieldError = function (form, field, text) {
    var node =
      form.querySelector('[data-error-for="' + field + '"]') ||
      form.querySelector('[data-error-for="_form"]');
    node.textContent = text;
    node.hidden = false;
    var input = form.elements[field];
    if (input && input.setAttribute) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  };

  LM.announce = function (text) {
    var region = document.getElementById("lm-announcer");
    if (!region) return;
    region.textContent = "";
    // A fresh text node after a tick is announced even when the text repeats.
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  };

  /* WHIP/WHEP send one offer with the candidates in it: resolve when ICE gathering is
     complete, or after two seconds with what was gathered so far. */
  LM.waitForIce = function (peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var done = function () {
        if (peer.iceGatheringState === "complete") {
          peer.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);
    });
  };

  /* WHEP answers one offer without trickle, but a player needs one way in, not every
     candidate: resolve graceMs after the first candidate (a gathering pass yields the
     UDP host candidates together; the end of gathering, TCP and slow interfaces, comes
     100+ ms later), when gathering completes, or after two seconds. A path the offer
     left out still works: the server learns it from the player's checks (peer-reflexive). */
  LM.waitForFirstCandidates = function (peer, graceMs) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(finish, 2000);
      var first = true;
      function finish() {
        clearTimeout(timer);
        peer.removeEventListener("icecandidate", onCandidate);
        peer.removeEventListener("icegatheringstatechange", onState);
        resolve();
      }
      function onCandidate(event) {
        if (!event.candidate) return finish();
        if (!first) return;
        first = false;
        clearTimeout(timer);
        timer = setTimeout(finish, graceMs);
      }
      function onState() {
        if (peer.iceGatheringState === "complete") finish();
      }
      peer.addEventListener("icecandidate", onCandidate);
      peer.addEventListener("icegatheringstatechange", onState);
      var sdp = peer.localDescription ? peer.localDescription.sdp : "";
      if (sdp.indexOf("\na=candidate:") >= 0) onCandidate({ candidate: true });
    });
  };

  /* A WHIP/WHEP session URL: the answer's Location resolved against the URL that
     answered (after any 307 to another instance), so DELETE reaches that instance. */
  LM.sessionUrl = function (response) {
    var location = response.headers.get("Location");
    if (!location) return null;
    try {
      return new URL(location, response.url || window.location.href).href;
    } catch (err) {
      return null;
    }
  };

  LM.onReady = function (fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  };

  LM.setLanguage = function (lang) {
    document.cookie = "lang=" + encodeURIComponent(lang) + "; path=/; max-age=31536000; samesite=lax";
    window.location.reload();
  };

  /* ---- wiring for the base layout and the pages this file owns ---------- */

  function wireLogout() {
    document.querySelectorAll("[data-lm-logout]").forEach(function (button) {
      button.addEventListener("click", function () {
        button.disabled = true;
        LM.api("/api/v1/session", { method: "DELETE" }).then(
          function () {
            window.location.assign("/");
          },
          function (err) {
            button.disabled = false;
            LM.announce(err.message);
          }
        );
      });
    });
  }

  function wireLogin() {
    var form = document.querySelector("[data-lm-login]");
    if (!form) return;
    var errorBox = form.querySelector(".form__error");
    function showError(text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var username = form.elements.username.value.trim();
      var password = form.elements.password.value;
      if (!username || !password) {
        showError(LM.t("login.failed"));
        (username ? form.elements.password : form.elements.username).focus();
        return;
      }
      var submit = form.querySelector('[type="submit"]');
      submit.disabled = true;
      errorBox.hidden = true;
      LM.api("/api/v1/session", { method: "POST", body: { username: username, password: password } }).then(
        function (data) {
          if (data && data.csrf_token) LM.setCsrfToken(data.csrf_token);
          var next = LM.bootstrap().next;
          var role = data && data.user ? data.user.role : "";
          window.location.assign(next || (role === "operator" ? "/console" : "/"));
        },
        function (err) {
          submit.disabled = false;
          showError(err.status === 401 ? LM.t("login.failed") : err.message);
          form.elements.password.value = "";
          form.elements.password.focus();
        }
      );
    });
  }

  var REMINDED = "lm.reminders";

  function remembered() {
    try {
      return JSON.parse(window.localStorage.getItem(REMINDED) || "[]");
    } catch (err) {
      return [];
    }
  }

  function remember(id) {
    try {
      var ids = remembered();
      if (ids.indexOf(id) < 0) ids.push(id);
      window.localStorage.setItem(REMINDED, JSON.stringify(ids.slice(-200)));
    } catch (err) {
      /* storage may be off (private mode): the reminder is still set on the server */
    }
  }

  function markReminded(button) {
    var note = document.createElement("span");
    note.className = "special-card__note";
    note.setAttribute("data-lm-reminded", button.getAttribute("data-lm-remind"));
    note.appendChild(LM.icon("check"));
    note.appendChild(document.createTextNode(" " + LM.t("index.reminder_set")));
    button.replaceWith(note);
  }

  /* "Remind me": shown only when the server serves reminders (the button is rendered
     hidden and revealed here, so without JS it never appears). */
  function wireReminders() {
    var done = remembered();
    document.querySelectorAll("[data-lm-remind]").forEach(function (button) {
      var id = button.getAttribute("data-lm-remind");
      if (done.indexOf(id) >= 0) {
        markReminded(button);
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        button.disabled = true;
        LM.api("/api/v1/specials/" + encodeURIComponent(id) + "/reminders", { method: "POST" }).then(
          function () {
            remember(id);
            LM.announce(LM.t("index.reminder_set"));
            document.querySelectorAll('[data-lm-remind="' + id + '"]').forEach(markReminded);
          },
          function (err) {
            var unavailable = err.status === 404 || err.status === 405 || err.status === 501 || err.status === 0;
            var text = unavailable ? LM.t("index.reminder_unavailable") : err.message;
            var note = document.createElement("span");
            note.className = "error-text";
            note.setAttribute("role", "status");
            note.textContent = text;
            button.replaceWith(note);
          }
        );
      });
    });
  }

  /* Watch and studio pages: keep the status badge and notice in step with the show.
     When it is over the notice says so and points to the next show (asked afresh: the
     page may have been open for hours). */
  function wireStatus() {
    var realtime = LM.realtime;
    var badges = document.querySelectorAll("[data-lm-status]");
    if (!realtime || typeof realtime.on !== "function" || !badges.length) return;
    var notice = document.querySelector("[data-lm-status-notice]");
    var NOTICES = { ended: "watch.ended_notice", cancelled: "watch.cancelled_notice" };
    var shown = null;
    function showNext(special) {
      var slot = notice && notice.querySelector("[data-lm-next-show]");
      if (!slot) return;
      slot.textContent = "";
      slot.hidden = !special;
      if (!special) return;
      var link = document.createElement("a");
      link.href = "/specials/" + special.id;
      link.textContent = special.title;
      var when = document.createElement("span");
      when.textContent = LM.formatDate(special.starts_at) + " " + LM.formatTime(special.starts_at);
      slot.appendChild(document.createTextNode(LM.t("watch.next_show") + " "));
      slot.appendChild(link);
      slot.appendChild(document.createTextNode(" "));
      slot.appendChild(when);
    }
    function lookUpNext() {
      var boot = LM.bootstrap();
      LM.api("/api/v1/specials?status=scheduled&limit=5").then(
        function (page) {
          var next = (page.items || []).filter(function (s) {
            return s.id !== boot.special_id;
          })[0];
          showNext(next || null);
        },
        function () {
          showNext(boot.next_special || null);
        }
      );
    }
    function apply(status) {
      if (["scheduled", "live", "ended", "cancelled"].indexOf(status) < 0) return;
      badges.forEach(function (badge) {
        badge.className = "badge badge--" + status;
        badge.textContent = LM.t("status." + status);
      });
      var boot = LM.bootstrap();
      if (boot.special) boot.special.status = status;
      var changed = status !== shown;
      shown = status;
      if (!notice) return;
      var text = notice.querySelector("[data-lm-status-text]");
      var back = notice.querySelector("[data-lm-back-link]");
      if (NOTICES[status]) {
        text.textContent = LM.t(NOTICES[status]);
        if (back) back.hidden = false;
        notice.hidden = false;
        if (changed) lookUpNext();
      } else if (status === "live") {
        notice.hidden = true;
      }
    }
    realtime.on("special.status", function (frame) {
      apply(frame.status);
    });
    realtime.on("hello", function (frame) {
      apply(frame.status);
    });
  }

  /* A reminder frame ("starts in ten minutes") may come for this special or, for a viewer
     who asked, for another one: show it once per special, with a link to its page. */
  function wireReminderFrames() {
    var realtime = LM.realtime;
    if (!realtime || typeof realtime.on !== "function") return;
    var shown = {};
    realtime.on("reminder", function (frame) {
      if (shown[frame.special_id]) return;
      shown[frame.special_id] = true;
      var text = LM.t("watch.reminder_toast", { title: frame.title || "" });
      var toast = document.createElement("p");
      toast.className = "notice notice--toast";
      toast.setAttribute("role", "status");
      toast.setAttribute("data-lm-reminder", String(frame.special_id));
      toast.appendChild(document.createTextNode(text + " "));
      if (typeof frame.url === "string" && frame.url.charAt(0) === "/") {
        var link = document.createElement("a");
        link.href = frame.url;
        link.textContent = LM.t("watch.reminder_open");
        toast.appendChild(link);
      }
      (document.querySelector("main") || document.body).prepend(toast);
      LM.announce(text);
    });
  }

  /* Form checks speak the page's language, not the browser's: a field that fails its
     min/max/required rules gets a message from the catalog ("form.*"), or from the key
     in its data-lm-invalid attribute (e.g. the deal discount's 50 % cap). */
  function validityMessage(field) {
    var v = field.validity;
    var limits = { min: field.getAttribute("min"), max: field.getAttribute("max") };
    var own = field.getAttribute("data-lm-invalid");
    if (own && (v.rangeOverflow || v.rangeUnderflow)) return LM.t(own, limits);
    if (v.valueMissing) return LM.t("form.required");
    if (v.badInput) return LM.t("form.number");
    if (v.rangeOverflow) return LM.t("form.too_big", limits);
    if (v.rangeUnderflow) return LM.t("form.too_small", limits);
    if (v.stepMismatch) return LM.t("form.whole");
    return "";
  }
  function wireValidity() {
    document.addEventListener(
      "invalid",
      function (event) {
        var field = event.target;
        if (!field.setCustomValidity) return;
        field.setCustomValidity("");
        if (field.validity.valid) return;
        var text = validityMessage(field);
        if (text) field.setCustomValidity(text);
      },
      true
    );
    document.addEventListener("input", function (event) {
      if (event.target.setCustomValidity) event.target.setCustomValidity("");
    });
  }

  document.documentElement.classList.add("js");
  wireValidity();
  LM.onReady(function () {
    wireReminderFrames();
    wireLogout();
    wireLogin();
    wireReminders();
    wireStatus();
  });
})();
