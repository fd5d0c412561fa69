/* Replay page: plays an ended special's HLS VOD with its timeline and its chat in step.
 *
 * Data: GET /api/v1/specials/{id}/replay (playlist_url, started_at, markers with offset_s,
 * products) and GET …/replay/chat (pages of messages with offset_s). Plays with hls.js
 * (vendor/hls.light.min.js) where the browser has MSE, else natively (iPhone Safari).
 * Markers are buttons (keyboard and screen readers) that seek the video; the chat shows
 * every message whose offset the playhead has passed, re-drawn after a seek backwards.
 * User text is set with textContent only.
 */
(function () {
  "use strict";

  var LM = window.LM;
  var MAX_CHAT_PAGES = 20; // 20 × 500 messages: a long show's chat, bounded
  var CHAT_SHOWN = 300; // messages kept on screen (the newest ones)

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = ("0" + (s % 60)).slice(-2);
    return h ? h + ":" + ("0" + m).slice(-2) + ":" + rest : m + ":" + rest;
  }

  LM.onReady(function () {
    var root = document.getElementById("lm-replay");
    if (!root) return;
    var specialId = Number(root.getAttribute("data-special-id"));
    var video = document.getElementById("lm-replay-video");
    var message = document.getElementById("lm-replay-message");
    var list = document.getElementById("lm-replay-markers");
    var track = document.getElementById("lm-replay-track");
    var head = track.querySelector("[data-head]");
    var chatLog = document.getElementById("lm-replay-chat");
    var chatEmpty = document.getElementById("lm-replay-chat-empty");
    var markers = [];
    var buttons = [];
    var chat = [];
    var chatShown = 0;
    var duration = 0;

    function say(text) {
      message.textContent = text;
      message.hidden = !text;
    }

    /* hls.js where MSE exists (as the watch page's HLS player), else native HLS. */
    function play(url) {
      if (window.Hls && window.Hls.isSupported()) {
        var hls = new window.Hls({ enableWorker: false }); // the CSP allows no blob: workers
        hls.on(window.Hls.Events.ERROR, function (_event, data) {
          if (data && data.fatal) say(LM.t("replay.load_failed", { message: data.details || "hls" }));
        });
        hls.loadSource(url);
        hls.attachMedia(video);
        root.setAttribute("data-engine", "hlsjs");
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = url;
        root.setAttribute("data-engine", "native");
      } else {
        say(LM.t("replay.no_player"));
      }
    }

    function seek(offset) {
      video.currentTime = offset;
      var started = video.play();
      if (started && typeof started.catch === "function") started.catch(function () {});
      sync();
    }

    function label(marker, products) {
      var product = products[marker.product_id];
      var name = product ? LM.localName(product) : "#" + marker.product_id;
      return LM.t("replay.kind." + marker.kind, {
        name: name,
        pct: marker.discount_pct,
        nickname: marker.nickname || "",
        text: marker.text || "",
      });
    }

    function drawMarkers(data) {
      var products = {};
      data.products.forEach(function (p) { products[p.id] = p; });
      duration = data.duration_s || 0;
      list.textContent = "";
      document.getElementById("lm-replay-markers-empty").hidden = markers.length > 0;
      markers.forEach(function (marker) {
        var li = el("li");
        var button = el("button", "replay-marker replay-marker--" + marker.kind.replace(".", "-"));
        button.type = "button";
        button.setAttribute("data-kind", marker.kind);
        button.setAttribute("data-offset", String(marker.offset_s));
        if (marker.product_id) button.setAttribute("data-product-id", String(marker.product_id));
        button.appendChild(el("span", "replay-marker__time", clock(marker.offset_s)));
        button.appendChild(el("span", "replay-marker__label", label(marker, products)));
        button.addEventListener("click", function () { seek(marker.offset_s); });
        li.appendChild(button);
        list.appendChild(li);
        buttons.push(button);
        if (duration > 0) {
          var tick = el("span", "replay-track__tick");
          tick.style.left = (100 * marker.offset_s / duration) + "%";
          track.appendChild(tick);
        }
      });
    }

    function chatItem(m) {
      var li = el("li", "replay-chat__msg");
      li.setAttribute("data-offset", String(m.offset_s));
      li.appendChild(el("span", "replay-chat__time", clock(m.offset_s)));
      li.appendChild(el("span", "replay-chat__nick", m.nickname));
      li.appendChild(el("span", "replay-chat__text", m.text));
      return li;
    }

    /* The chat up to the playhead: append what was passed, redraw after a seek back. */
    function syncChat(now) {
      var upto = 0;
      while (upto < chat.length && chat[upto].offset_s <= now) upto++;
      if (upto < chatShown) {
        chatLog.textContent = "";
        chatShown = Math.max(0, upto - CHAT_SHOWN);
      }
      for (var i = Math.max(chatShown, upto - CHAT_SHOWN); i < upto; i++) chatLog.appendChild(chatItem(chat[i]));
      while (chatLog.childNodes.length > CHAT_SHOWN) chatLog.removeChild(chatLog.firstChild);
      chatShown = upto;
      chatEmpty.hidden = upto > 0;
      chatLog.scrollTop = chatLog.scrollHeight;
    }

    function syncMarkers(now) {
      var current = -1;
      markers.forEach(function (marker, i) { if (marker.offset_s <= now + 0.25) current = i; });
      buttons.forEach(function (button, i) {
        if (i === current) button.setAttribute("aria-current", "true");
        else button.removeAttribute("aria-current");
      });
      if (duration > 0) head.style.left = Math.min(100, 100 * now / duration) + "%";
    }

    function sync() {
      var now = video.currentTime || 0;
      syncMarkers(now);
      syncChat(now);
    }

    ["timeupdate", "seeked", "seeking", "loadedmetadata"].forEach(function (name) {
      video.addEventListener(name, sync);
    });

    LM.api("/api/v1/specials/" + specialId + "/replay").then(function (data) {
      markers = data.markers;
      drawMarkers(data);
      play(data.playlist_url);
      var base = data.chat_url + "?limit=500";
      var next = function (url, pages) {
        return LM.api(url).then(function (page) {
          chat = chat.concat(page.items);
          sync();
          if (page.next && pages + 1 < MAX_CHAT_PAGES) return next(base + "&cursor=" + page.next, pages + 1);
          return null;
        });
      };
      return next(base, 0);
    }).catch(function (err) {
      say(LM.t("replay.load_failed", { message: err.message || String(err) }));
    });
  });
})();
