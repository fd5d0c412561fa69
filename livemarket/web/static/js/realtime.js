/* LiveMarket realtime: the ONE WebSocket of a watch or studio page.
 *
 *   LM.realtime.on(type, fn)   fn(frame) for every server frame of that type ("hello",
 *                              "chat", "stock", ...; "*" for all); batches are unpacked.
 *                              Returns a function that unsubscribes.
 *   LM.realtime.send(obj)      send a frame (dropped with false while disconnected)
 *   LM.realtime.serverNow()    the server's clock in ms since the epoch, estimated from
 *                              the socket (hello and ping/pong, half the round trip)
 *   LM.realtime.connected()    whether the socket is open now
 *   LM.realtime.reconnect()    a fresh socket now (e.g. after the nickname changed)
 *
 * Reconnects with backoff (1 s doubling to 15 s, with jitter) and resumes: the URL
 * carries the last room epoch and seq, so the server replays what was missed when it
 * still can, after a fresh `hello` snapshot. Emits "open" / "close" pseudo-frames.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  if (LM.realtime) return;

  var handlers = {};
  var socket = null;
  var epoch = "";
  var lastSeq = 0;
  var offset = null; // server clock minus local clock, ms
  var bestRtt = Infinity;
  var retry = 0;
  var pingTimer = null;
  var sessionReady = null;

  function emit(type, frame) {
    [handlers[type], handlers["*"]].forEach(function (list) {
      (list || []).slice().forEach(function (fn) {
        try {
          fn(frame);
        } catch (err) {
          if (window.console) console.error("realtime handler failed", type, err);
        }
      });
    });
  }

  function dispatch(frame) {
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "batch" && Array.isArray(frame.events)) {
      frame.events.forEach(dispatch);
      return;
    }
    if (typeof frame.seq === "number" && frame.seq > lastSeq) lastSeq = frame.seq;
    if (frame.type === "hello") {
      epoch = frame.epoch || "";
      lastSeq = frame.seq || 0;
      if (typeof frame.server_time === "number" && bestRtt === Infinity) {
        offset = frame.server_time - Date.now();
      }
    } else if (frame.type === "pong" && typeof frame.t === "number") {
      var rtt = Date.now() - frame.t;
      if (rtt >= 0 && rtt <= bestRtt * 1.5 + 50) {
        bestRtt = Math.min(bestRtt, rtt);
        offset = frame.server_time + rtt / 2 - Date.now();
      }
    }
    emit(frame.type, frame);
  }

  function url() {
    var boot = LM.bootstrap ? LM.bootstrap() : {};
    var base = boot.ws_url;
    if (!base) {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      base = proto + location.host + "/ws/specials/" + boot.special_id;
    }
    return epoch ? base + "?resume=" + encodeURIComponent(epoch + ":" + lastSeq) : base;
  }

  function ensureSession() {
    // The socket authenticates with the session cookie; make sure there is one.
    if (!sessionReady) {
      sessionReady = fetch("/api/v1/session", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json();
        })
        .then(function (body) {
          if (body && body.csrf_token && LM.setCsrfToken) LM.setCsrfToken(body.csrf_token);
        })
        .catch(function () {});
    }
    return sessionReady;
  }

  function ping() {
    LM.realtime.send({ type: "ping", t: Date.now() });
  }

  function connect() {
    ensureSession().then(function () {
      var ws = new WebSocket(url());
      socket = ws;
      ws.onopen = function () {
        retry = 0;
        emit("open", { type: "open" });
        ping();
        clearInterval(pingTimer);
        pingTimer = setInterval(ping, 20000);
      };
      ws.onmessage = function (event) {
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        dispatch(frame);
      };
      ws.onclose = function (event) {
        clearInterval(pingTimer);
        if (socket !== ws) return;
        socket = null;
        emit("close", { type: "close", code: event.code, reason: event.reason });
        if (event.code === 4003) return; // banned: do not hammer the server
        var delay = Math.min(15000, 1000 * Math.pow(2, retry++)) * (0.5 + Math.random() / 2);
        setTimeout(connect, delay);
      };
    });
  }

  LM.realtime = {
    on: function (type, fn) {
      (handlers[type] = handlers[type] || []).push(fn);
      return function () {
        var list = handlers[type] || [];
        var at = list.indexOf(fn);
        if (at >= 0) list.splice(at, 1);
      };
    },
    send: function (obj) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(obj));
      return true;
    },
    serverNow: function () {
      return Date.now() + (offset === null ? 0 : offset);
    },
    /* Open a fresh socket now (after a nickname change, the server reads the session
       again on connect); resumes like any reconnect. */
    reconnect: function () {
      var ws = socket;
      socket = null;
      if (ws) ws.close(4000, "reconnect");
      retry = 0;
      connect();
    },
    connected: function () {
      return !!socket && socket.readyState === WebSocket.OPEN;
    },
  };

  (function () {
    // Until the socket says better, trust the clock the page was rendered with.
    var boot = LM.bootstrap ? LM.bootstrap() : {};
    var at = boot.server_now ? Date.parse(boot.server_now) : NaN;
    if (!isNaN(at)) offset = at - Date.now();
  })();

  window.addEventListener("pagehide", function () {
    if (socket) {
      var ws = socket;
      socket = null;
      ws.close(1001, "page closed");
    }
  });

  // Scripts are deferred: panel scripts after this one subscribe before the socket opens.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
