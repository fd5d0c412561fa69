/* LiveMarket chat panel: messages, viewer count, likes and (for hosts) moderation.
 *
 * Uses the page's one socket (LM.realtime). User text only ever goes into
 * textContent, never innerHTML. The log follows new messages unless the viewer has
 * scrolled up to read; then a "new messages" button brings them back down. Korean
 * IME: Enter that ends a composition does not send.
 */
(function () {
  "use strict";

  var LM = window.LM || {};
  function tr(key, params) {
    return LM.t(key, params);
  }

  function start(root) {
    var realtime = LM.realtime;
    if (!realtime) return;
    var log = root.querySelector("[data-lm-chat-log]");
    var form = root.querySelector("[data-lm-chat-form]");
    var input = root.querySelector("[data-lm-chat-input]");
    var notice = root.querySelector("[data-lm-chat-notice]");
    var jump = root.querySelector("[data-lm-chat-jump]");
    var pinned = root.querySelector("[data-lm-chat-pinned]");
    var viewers = root.querySelector("[data-lm-viewers]");
    var likes = root.querySelector("[data-lm-likes]");
    var likeButton = root.querySelector("[data-lm-like]");
    var slow = root.querySelector("[data-lm-chat-slow]");
    var nickForm = root.querySelector("[data-lm-chat-nick]");
    var nickInput = root.querySelector("[data-lm-chat-nick-input]");
    var moderator = root.getAttribute("data-moderator") === "true";
    var byId = {};
    var composing = false;
    var likeCount = 0;

    function nearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    }
    function toBottom() {
      log.scrollTop = log.scrollHeight;
      jump.hidden = true;
    }
    log.addEventListener("scroll", function () {
      if (nearBottom()) jump.hidden = true;
    });
    jump.addEventListener("click", toBottom);

    function say(text) {
      notice.textContent = text || "";
    }

    function modButton(label, frame) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "lm-chat__mod";
      button.textContent = label;
      button.addEventListener("click", function () {
        realtime.send(frame);
      });
      return button;
    }

    function render(message) {
      var item = document.createElement("li");
      item.className = "lm-chat__msg";
      item.setAttribute("data-id", String(message.id));
      if (message.role === "host" || message.role === "operator") {
        var role = document.createElement("span");
        role.className = "lm-chat__role";
        role.textContent = tr("chat." + message.role);
        item.appendChild(role);
      }
      var nick = document.createElement("span");
      nick.className = "lm-chat__nick";
      nick.textContent = message.nickname;
      var text = document.createElement("span");
      text.className = "lm-chat__text";
      text.textContent = message.text;
      item.appendChild(nick);
      item.appendChild(text);
      if (moderator) {
        item.appendChild(modButton(tr("chat.pin"), { type: "moderate", action: "pin", message_id: message.id }));
        item.appendChild(modButton(tr("chat.delete"), { type: "moderate", action: "delete", message_id: message.id }));
        if (message.role === "viewer") {
          item.appendChild(modButton(tr("chat.ban"), { type: "moderate", action: "ban", message_id: message.id }));
        }
      }
      return item;
    }

    function add(message) {
      if (byId[message.id]) return; // a resume may replay what the snapshot holds
      var follow = nearBottom();
      var item = render(message);
      byId[message.id] = item;
      log.appendChild(item);
      while (log.children.length > 200) {
        var old = log.firstElementChild;
        delete byId[old.getAttribute("data-id")];
        log.removeChild(old);
      }
      if (follow) toBottom();
      else jump.hidden = false;
    }

    function remove(id) {
      var item = byId[id];
      if (item) {
        item.remove();
        delete byId[id];
      }
      if (pinned.getAttribute("data-id") === String(id)) pinned.hidden = true;
    }

    function showPinned(message) {
      if (!message) {
        pinned.hidden = true;
        return;
      }
      pinned.setAttribute("data-id", String(message.id));
      pinned.textContent = "";
      pinned.appendChild(LM.icon("pin"));
      pinned.appendChild(
        document.createTextNode(" " + tr("chat.pinned", { name: message.nickname }) + " " + message.text)
      );
      pinned.hidden = false;
    }

    function setLikes(count) {
      if (count > likeCount) likeCount = count; // totals only grow; late ones are older
      likes.textContent = String(likeCount);
    }

    var slowSeconds = 0;
    function slowNotice(seconds) {
      if (slow) slow.value = String(seconds);
      if (seconds === slowSeconds) return; // a snapshot repeating it leaves other notices
      slowSeconds = seconds;
      say(seconds ? tr("chat.slow_on", { s: seconds }) : "");
    }

    realtime.on("hello", function (frame) {
      log.textContent = "";
      byId = {};
      (frame.chat || []).forEach(add);
      toBottom();
      showPinned(frame.pinned_message);
      viewers.textContent = String(frame.viewers || 0);
      setLikes(frame.likes || 0);
      slowNotice(frame.slow_mode_s || 0);
      var you = frame.you || {};
      nickForm.hidden = you.role !== "viewer" || !you.can_chat;
      if (document.activeElement !== nickInput) nickInput.value = you.nickname || "";
      input.disabled = !!you.banned;
      if (you.banned) say(tr("chat.banned"));
      else if (!you.can_chat) say(tr("chat.login"));
    });
    realtime.on("chat", add);
    realtime.on("chat.deleted", function (frame) {
      remove(frame.id);
    });
    realtime.on("chat.pinned", function (frame) {
      showPinned(frame.message);
    });
    realtime.on("chat.mode", function (frame) {
      slowNotice(frame.slow_mode_s || 0);
    });
    realtime.on("viewers", function (frame) {
      viewers.textContent = String(frame.count);
    });
    realtime.on("likes", function (frame) {
      setLikes(frame.count);
    });
    realtime.on("error", function (frame) {
      say(frame.message);
      if (frame.code === "chat_banned") input.disabled = true;
    });
    var reconnecting = false;
    realtime.on("close", function (frame) {
      if (frame.code === 4003) return;
      reconnecting = true;
      say(tr("chat.reconnecting"));
    });
    realtime.on("open", function () {
      if (reconnecting) say("");
      reconnecting = false;
    });

    input.addEventListener("compositionstart", function () {
      composing = true;
    });
    input.addEventListener("compositionend", function () {
      composing = false;
    });
    input.addEventListener("keydown", function (event) {
      // Enter that commits a Hangul syllable is part of typing, not "send".
      if (event.key === "Enter" && (event.isComposing || composing || event.keyCode === 229)) {
        event.preventDefault();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (composing) return;
      var text = input.value.trim();
      if (!text) return;
      if (realtime.send({ type: "chat", text: text })) {
        input.value = "";
        say("");
      }
    });
    nickForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var wanted = nickInput.value.trim();
      if (!wanted || !LM.api) return;
      LM.api("/api/v1/session", { method: "PATCH", body: { nickname: wanted } }).then(
        function (body) {
          var name = (body && body.viewer && body.viewer.nickname) || wanted;
          say(tr("chat.nickname_saved", { name: name }));
          realtime.reconnect(); // the socket reads the session's nickname when it opens
        },
        function (err) {
          say(err && err.message ? err.message : String(err));
        }
      );
    });
    likeButton.addEventListener("click", function () {
      realtime.send({ type: "like" });
    });
    if (slow) {
      slow.addEventListener("change", function () {
        realtime.send({ type: "moderate", action: "slow", seconds: parseInt(slow.value, 10) || 0 });
      });
    }
  }

  function boot() {
    document.querySelectorAll("[data-lm-chat]").forEach(start);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
