/* LiveMarket watch-page player: WHEP playback of the special's stream.
 *
 * POST /whep/{id} with a recvonly offer (no trickle: sent once the first host
 * candidates are gathered, see LM.waitForFirstCandidates), 201 with the answer
 * and a Location to DELETE when leaving. With several server instances the POST
 * may be answered 307 to the instance holding the stream, possibly another origin:
 * fetch follows it (a 307 keeps the method and body; that server answers CORS), and
 * the session's Location is resolved against the final response URL, so the DELETE
 * reaches the instance that holds the session.
 * States (#lm-player[data-state]): connecting, waiting (no host yet), playing,
 * reconnecting (host dropped: the connection stays, frames resume), full (503, or 429
 * for an address with too many players connecting: retried after Retry-After; chat
 * keeps working), unsupported (this browser cannot
 * receive the stream's codec: retried slowly, the host may switch), ended, error.
 * Texts come from the page's catalog (LM.t, keys "player.*"). Autoplay rules:
 * the video starts muted with an "Unmute" button; if even muted playback is
 * refused a "Play" button shows. Reconnects on connection failure and when the
 * network comes back. window.LM.player exposes state() and the current session.
 * LL-HLS instead of WebRTC (stable mode, no seat, no frame): hls_player.js decides;
 * while LM.hls.active() this script leaves the video alone (release() hands it over).
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var root = document.getElementById("lm-player");
  if (!root) return;

  var video = document.getElementById("lm-player-video");
  var overlay = root.querySelector("[data-lm-player-overlay]");
  var message = root.querySelector("[data-lm-player-message]");
  var playButton = root.querySelector("[data-lm-player-play]");
  var unmuteButton = root.querySelector("[data-lm-player-unmute]");
  var liveBadge = root.querySelector("[data-lm-player-live]");
  var specialId = root.getAttribute("data-special-id");

  var pc = null;
  var location_ = null;
  var retryTimer = null;
  var backoff = 1000;
  var streamState = null; // from the server: offline, live, reconnecting, ended
  var lastFrames = 0;
  var lastProgress = Date.now();
  var generation = 0;
  /* after the first ICE candidate, how long the offer waits for its siblings */
  var FIRST_CANDIDATES_GRACE_MS = 20;

  /* One message per state; literal keys, so tests/web/test_i18n.py can check them. */
  var MESSAGES = {
    connecting: LM.t("player.connecting"),
    waiting: LM.t("player.waiting"),
    reconnecting: LM.t("player.reconnecting"),
    full: LM.t("player.full"),
    unsupported: LM.t("player.unsupported"),
    ended: LM.t("player.ended"),
    error: LM.t("player.error"),
  };

  function setState(state) {
    root.setAttribute("data-state", state);
    var showOverlay = state !== "playing";
    overlay.hidden = !showOverlay;
    liveBadge.hidden = state !== "playing";
    if (showOverlay) message.textContent = MESSAGES[state] || MESSAGES.error;
  }

  function frameCount() {
    if (video.getVideoPlaybackQuality) return video.getVideoPlaybackQuality().totalVideoFrames;
    return video.webkitDecodedFrameCount || 0;
  }


  function errorCode(response) {
    return response.json().then(
      function (data) {
        return (data && data.error && data.error.code) || "";
      },
      function () {
        return "";
      }
    );
  }

  function hangUp() {
    if (location_) {
      fetch(location_, { method: "DELETE", keepalive: true, mode: "cors" }).catch(function () {});
      location_ = null;
    }
    if (pc) {
      pc.close();
      pc = null;
    }
  }

  function scheduleRetry(delayMs) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delayMs);
  }

  function retryLater() {
    var delay = backoff + Math.random() * 500;
    backoff = Math.min(backoff * 2, 15000);
    scheduleRetry(delay);
  }

  function startPlayback() {
    var attempt = video.play();
    if (attempt && attempt.catch) {
      attempt.then(
        function () {
          playButton.hidden = true;
          unmuteButton.hidden = !video.muted;
        },
        function () {
          playButton.hidden = false;
        }
      );
    }
  }

  function connect() {
    if (LM.hls && LM.hls.active()) return; // HLS has the video (hls_player.js)
    clearTimeout(retryTimer);
    hangUp();
    var mine = ++generation;
    if (root.getAttribute("data-state") !== "reconnecting") setState("connecting");
    var peer = new RTCPeerConnection({ iceServers: [] });
    pc = peer;
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    var stream = new MediaStream();
    peer.ontrack = function (event) {
      stream.addTrack(event.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      startPlayback();
    };
    peer.onconnectionstatechange = function () {
      if (mine !== generation) return;
      if (peer.connectionState === "failed" || peer.connectionState === "closed") {
        setState("error");
        retryLater();
      } else if (peer.connectionState === "disconnected") {
        // a blip ICE may recover from; if it lasts (server hung up), start over
        setTimeout(function () {
          if (mine === generation && peer.connectionState === "disconnected") {
            setState("error");
            retryLater();
          }
        }, 4000);
      }
    };
    peer
      .createOffer()
      .then(function (offer) {
        return peer.setLocalDescription(offer);
      })
      .then(function () {
        return LM.waitForFirstCandidates(peer, FIRST_CANDIDATES_GRACE_MS);
      })
      .then(function () {
        return fetch("/whep/" + specialId, {
          method: "POST",
          headers: { "Content-Type": "application/sdp" },
          body: peer.localDescription.sdp,
          credentials: "same-origin",
          redirect: "follow",
        });
      })
      .then(function (response) {
        if (mine !== generation) return null;
        if (response.status === 201) {
          location_ = LM.sessionUrl(response);
          backoff = 1000;
          return response.text().then(function (answer) {
            lastProgress = Date.now();
            setState(streamState === "live" ? "connecting" : "waiting");
            return peer.setRemoteDescription({ type: "answer", sdp: answer });
          });
        }
        peer.close();
        if (response.status === 503 || response.status === 429) {
          /* full, or too many players of this address still connecting: wait as told */
          var after = parseInt(response.headers.get("Retry-After") || "10", 10);
          setState("full");
          scheduleRetry(Math.max(1, after) * 1000 + Math.random() * 2000);
          if (LM.hls) errorCode(response).then(LM.hls.refused); // no seat: HLS
        } else if (response.status === 403 || response.status === 404) {
          setState("ended");
        } else {
          return errorCode(response).then(function (code) {
            if (mine !== generation) return null;
            if (code === "codec_unsupported") {
              setState("unsupported");
              backoff = Math.max(backoff, 8000);
            } else {
              setState("error");
            }
            retryLater();
            return null;
          });
        }
        return null;
      })
      .catch(function () {
        if (mine !== generation) return;
        setState("error");
        retryLater();
      });
  }

  /* Playback progress decides "playing"; the server's stream.status says why it stalled. */
  setInterval(function () {
    var state = root.getAttribute("data-state");
    if (!pc || state === "full" || state === "ended" || state === "unsupported") return;
    var frames = frameCount();
    if (frames > lastFrames) {
      lastFrames = frames;
      lastProgress = Date.now();
      if (state !== "playing") setState("playing");
    } else if (state === "playing" && Date.now() - lastProgress > 2500) {
      setState(streamState === "ended" ? "waiting" : streamState === "offline" ? "waiting" : "reconnecting");
    }
  }, 500);

  function onStatus(frame) {
    streamState = frame.state;
    var state = root.getAttribute("data-state");
    if (frame.state === "reconnecting" && state === "playing") setState("reconnecting");
    if (frame.state === "ended" && state !== "full") setState("waiting");
  }

  /* The show is over (the host ended it, or it was cancelled): no LIVE badge on a frozen
     frame, no more retries; the page's notice says what comes next. */
  function onShowStatus(frame) {
    if (frame.status !== "ended" && frame.status !== "cancelled") return;
    clearTimeout(retryTimer);
    generation++;
    hangUp();
    video.srcObject = null;
    unmuteButton.hidden = true;
    playButton.hidden = true;
    setState("ended");
  }

  if (LM.realtime && LM.realtime.on) {
    LM.realtime.on("stream.status", onStatus);
    LM.realtime.on("special.status", onShowStatus);
    LM.realtime.on("hello", onShowStatus);
  }
  fetch("/api/v1/specials/" + specialId + "/stream", { headers: { Accept: "application/json" } })
    .then(function (r) {
      return r.ok ? r.json() : null;
    })
    .then(function (status) {
      if (status && streamState === null) streamState = status.state;
    })
    .catch(function () {});

  unmuteButton.addEventListener("click", function () {
    video.muted = false;
    unmuteButton.hidden = true;
    startPlayback();
  });
  playButton.addEventListener("click", startPlayback);
  window.addEventListener("online", function () {
    backoff = 1000;
    connect();
  });
  if (navigator.connection && navigator.connection.addEventListener) {
    navigator.connection.addEventListener("change", function () {
      backoff = 1000;
      connect();
    });
  }
  window.addEventListener("pagehide", hangUp);
  var bootSpecial = (LM.bootstrap && LM.bootstrap().special) || {};

  LM.player = {
    state: function () {
      return root.getAttribute("data-state");
    },
    frames: frameCount,
    /* the session's URL (on the instance holding the stream), or null */
    session: function () {
      return location_;
    },
    reconnect: connect,
    setState: setState,
    play: startPlayback,
    /* stop WebRTC and give up the video element (hls_player.js plays HLS in it) */
    release: function () {
      clearTimeout(retryTimer);
      generation++;
      hangUp();
      video.srcObject = null;
    },
  };
  if (bootSpecial.status === "ended" || bootSpecial.status === "cancelled") {
    onShowStatus(bootSpecial);
  } else if (!(LM.hls && LM.hls.claims())) {
    connect();
  }
})();
