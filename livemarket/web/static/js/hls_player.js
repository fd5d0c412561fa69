/* LiveMarket watch page: when to play LL-HLS instead of WebRTC, and the HLS playback.
 *
 * player.js plays the special over WebRTC (WHEP): lowest delay, but a seat per viewer
 * (the per-special cap). This module takes the video element over and plays the
 * special's LL-HLS stream (GET /api/v1/specials/{id}/stream -> hls.url), which any
 * HTTP cache carries, when:
 *   - the viewer turned on "stable mode" (the switch under the video; remembered in
 *     localStorage), decided before any WHEP offer is sent;
 *   - WHEP answered 503 webrtc_seats_full (every WebRTC seat taken);
 *   - WebRTC showed no frame for data-webrtc-fallback-ms (4 s) while the host is live
 *     (WHEP error, ICE not connecting, no frame).
 * HLS that is not offered yet (not_live, starting: no keyframe yet) is asked for
 * again while the host is live; HLS that cannot be offered (hls_needs_h264,
 * hls_needs_video, hls_disabled, or this browser plays neither hls.js nor native
 * HLS) leaves WebRTC in charge.
 * Turning stable mode off hands the video back to WebRTC (which may come back here).
 *
 * Playback: hls.js (vendored light build, loaded only when needed) with lowLatencyMode
 * wherever Media Source Extensions exist; else the browser's native HLS (Safari, iOS).
 * No worker (the page's CSP allows no blob: scripts; fMP4 needs no transmuxing).
 * While on HLS, #lm-player[data-mode=hls] and a note says the video runs a few seconds
 * behind: chat, deals and countdowns stay on the socket and the server's clock.
 * Player states (data-state) and their texts are player.js's (LM.player.setState).
 *
 * LM.hls: active() (HLS has the video), claims() (at boot: stable mode, so WebRTC
 * must not start), refused(code) (WHEP's error code), mode(), reason(), latency()
 * (seconds behind the live edge as hls.js estimates it) and behind() (seconds behind
 * the wall clock of the frame on screen, from PROGRAM-DATE-TIME), or null.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var root = document.getElementById("lm-player");
  if (!root) return;

  var video = document.getElementById("lm-player-video");
  var toggle = document.querySelector("[data-lm-stable-mode]");
  var behind = document.querySelector("[data-lm-player-behind]");
  var specialId = root.getAttribute("data-special-id");
  var fallbackMs = Number(root.getAttribute("data-webrtc-fallback-ms")) || 4000;

  var STORAGE_KEY = "lm.player.stable";
  /* reasons the server gives for not offering HLS during this publishing session */
  var NOT_OFFERED = ["hls_needs_h264", "hls_needs_video", "hls_disabled"];
  var HLS_MIME = "application/vnd.apple.mpegurl";
  var RETRY_MS = 1500; // between two asks for the HLS URL while it is not offered yet
  var STALL_MS = 4000; // no progress this long: the player says why

  var mode = "webrtc"; // who has the video: "webrtc" (player.js) or "hls" (here)
  var why = null; // why HLS: "stable", "seats_full", "webrtc_failed"
  var wanted = null; // HLS wanted for this reason, not offered yet
  var noHlsHere = false; // HLS not offered for this publishing session (not H.264)
  var noHlsBrowser = false; // this browser plays neither hls.js nor native HLS
  var hlsBrowser = null; // promise of "hlsjs", "native" or null
  var hls = null; // the hls.js instance
  var attached = false;
  var asking = false;
  var lastAsk = 0;
  var streamState = null; // the server's: offline, live, reconnecting, ended
  var liveSince = null;
  var stalledSince = null; // since when the host is live and WebRTC not playing
  var failingSince = null; // ... and WebRTC connecting or failing (not just waiting)
  var lastSession = null; // the WHEP session seen last (player.js)
  var lastTime = 0;
  var lastProgress = Date.now();
  var ended = false;
  var recovered = false;

  function stableMode() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) === "1";
    } catch (err) {
      return toggle ? toggle.checked : false;
    }
  }

  function rememberStable(on) {
    try {
      if (on) window.localStorage.setItem(STORAGE_KEY, "1");
      else window.localStorage.removeItem(STORAGE_KEY);
    } catch (err) {
      /* private mode: the switch still works for this page */
    }
  }

  function player() {
    return LM.player || null;
  }

  function setState(state) {
    if (player()) player().setState(state);
  }

  function live() {
    return streamState === "live";
  }

  /* Where the special's HLS is, from the stream status (which also says if it is live). */
  function ask() {
    asking = true;
    lastAsk = Date.now();
    return fetch("/api/v1/specials/" + specialId + "/stream", { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .catch(function () {
        return null;
      })
      .then(function (status) {
        asking = false;
        /* the socket's stream.status frames are the news; this is the first word */
        if (status && status.state && streamState === null) noteStreamState(status.state);
        return (status && status.hls) || null;
      });
  }

  /* hls.js where MSE exists (loaded once, on first need), else native HLS, else null. */
  function browserEngine() {
    if (hlsBrowser) return hlsBrowser;
    function native() {
      return video.canPlayType(HLS_MIME) ? "native" : null;
    }
    if (!(window.MediaSource || window.ManagedMediaSource)) {
      hlsBrowser = Promise.resolve(native());
      return hlsBrowser;
    }
    hlsBrowser = new Promise(function (resolve) {
      if (window.Hls) return resolve();
      var script = document.createElement("script");
      script.src = root.getAttribute("data-hls-script");
      script.onload = function () {
        resolve();
      };
      script.onerror = function () {
        resolve();
      };
      document.head.appendChild(script);
    }).then(function () {
      return window.Hls && window.Hls.isSupported() ? "hlsjs" : native();
    });
    return hlsBrowser;
  }

  /* Ask for HLS; play it when offered, give WebRTC the video when it never will be. */
  function tryHls() {
    if (asking || ended) return;
    ask().then(function (info) {
      if (ended || (mode !== "hls" && !wanted)) return;
      if (info && info.available && info.url) {
        play(info.url);
      } else if (info && NOT_OFFERED.indexOf(info.reason) >= 0) {
        noHlsHere = true;
        giveBack();
      } else if (mode === "hls" && !attached) {
        setState(live() ? "connecting" : "waiting");
      }
    });
  }

  /* HLS takes the video element: WebRTC hangs up (its seat is freed at once). */
  function claim(reason) {
    if (mode !== "hls") {
      mode = "hls";
      why = reason;
      if (player()) player().release();
      root.setAttribute("data-mode", "hls");
      if (behind) behind.hidden = false;
      stalledSince = failingSince = null;
    }
    wanted = null;
  }

  function play(url) {
    browserEngine().then(function (engine) {
      if (ended || (mode !== "hls" && !wanted)) return;
      if (!engine) {
        noHlsBrowser = true;
        giveBack();
        return;
      }
      claim(wanted || why);
      if (attached) return;
      attached = true;
      recovered = false;
      lastTime = video.currentTime || 0;
      lastProgress = Date.now();
      setState("connecting");
      if (engine === "native") {
        video.src = url;
      } else {
        attachHlsJs(url);
      }
      if (player()) player().play();
    });
  }

  function attachHlsJs(url) {
    var Hls = window.Hls;
    hls = new Hls({
      lowLatencyMode: true,
      enableWorker: false,
      backBufferLength: 30,
      maxLiveSyncPlaybackRate: 1.5,
    });
    hls.on(Hls.Events.ERROR, function (event, data) {
      if (!data || !data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        hls.recoverMediaError();
        return;
      }
      detach(); // asked for again by the tick while the host is live
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  }

  function detach() {
    if (hls) {
      hls.destroy();
      hls = null;
    }
    if (attached) {
      video.removeAttribute("src");
      video.load();
    }
    attached = false;
    lastAsk = Date.now();
  }

  /* WebRTC has the video again (stable mode off, or HLS not possible here). */
  function giveBack() {
    wanted = null;
    if (mode !== "hls") return;
    detach();
    mode = "webrtc";
    why = null;
    root.setAttribute("data-mode", "webrtc");
    if (behind) behind.hidden = true;
    if (player() && !ended) player().reconnect();
  }

  function noHls() {
    return noHlsHere || noHlsBrowser;
  }

  function want(reason) {
    if (mode === "hls" || noHls() || ended) return;
    wanted = reason;
    tryHls();
  }

  function noteStreamState(state) {
    var was = streamState;
    streamState = state;
    if (state !== "live") {
      liveSince = null;
      return;
    }
    if (was === "live") return;
    liveSince = Date.now();
    if (was !== null) {
      /* a new publishing session (a new HLS run): ask again, the codec may differ */
      noHlsHere = false;
      if (mode === "hls" && attached) detach();
    }
  }

  /* HLS playback progress decides "playing", as frames do for WebRTC. */
  function watchHls(now) {
    if (!attached) {
      if (live() && now - lastAsk >= RETRY_MS) tryHls();
      /* stable mode, host live, and HLS still not offered: this server has none */
      if (why === "stable" && live() && liveSince && now - liveSince > fallbackMs + RETRY_MS * 4) {
        noHlsHere = true;
        giveBack();
      }
      return;
    }
    var time = video.currentTime;
    var state = root.getAttribute("data-state");
    if (time > lastTime + 0.01) {
      lastTime = time;
      lastProgress = now;
      if (state !== "playing" && !video.paused) setState("playing");
    } else if (state === "playing" && now - lastProgress > STALL_MS) {
      setState(streamState === "reconnecting" ? "reconnecting" : live() ? "connecting" : "waiting");
    } else if (live() && !video.paused && now - lastProgress > STALL_MS * 3) {
      detach(); // stuck while the host is live: load the playlist afresh
    }
  }

  /* WebRTC not showing a frame while the host is live: HLS. A player connecting or
     failing (connecting, error, full, unsupported) gets fallbackMs from its latest WHEP
     session; one still "waiting" gets three times that (a viewer connected before the
     host went live may be hung up and reconnected when the host's codec differs). */
  function watchWebrtc(now) {
    var state = player() ? player().state() : null;
    var session = player() ? player().session() : null;
    if (wanted && live() && now - lastAsk >= RETRY_MS) tryHls();
    if (session !== lastSession) {
      lastSession = session;
      if (session) failingSince = null; // a fresh WHEP session: its own time to connect
    }
    if (state === "playing") {
      if (wanted !== "stable") wanted = null; // WebRTC works after all
      stalledSince = failingSince = null;
      return;
    }
    if (!live() || state === "reconnecting" || state === "ended" || noHls()) {
      stalledSince = failingSince = null;
      return;
    }
    if (stalledSince === null) stalledSince = now;
    if (state === "waiting") failingSince = null;
    else if (failingSince === null) failingSince = now;
    var failed = failingSince !== null && now - failingSince >= fallbackMs;
    if (!wanted && (failed || now - stalledSince >= fallbackMs * 3)) want("webrtc_failed");
  }

  setInterval(function () {
    if (ended) return;
    var now = Date.now();
    if (mode === "hls") watchHls(now);
    else watchWebrtc(now);
  }, 500);

  function onStatus(frame) {
    noteStreamState(frame.state);
  }

  function onShowStatus(frame) {
    if (frame.status !== "ended" && frame.status !== "cancelled") return;
    ended = true;
    detach();
  }

  if (LM.realtime && LM.realtime.on) {
    LM.realtime.on("stream.status", onStatus);
    LM.realtime.on("special.status", onShowStatus);
    LM.realtime.on("hello", onShowStatus);
  }

  /* Whether the host is live, for the WebRTC watchdog (stable mode has asked already). */
  LM.onReady(function () {
    if (!asking && streamState === null) ask();
  });

  if (toggle) {
    toggle.checked = stableMode();
    toggle.addEventListener("change", function () {
      rememberStable(toggle.checked);
      if (toggle.checked) {
        noHlsHere = false;
        want("stable");
      } else {
        giveBack();
      }
    });
  }

  LM.hls = {
    active: function () {
      return mode === "hls";
    },
    /* At boot: stable mode keeps WebRTC from starting; HLS is asked for at once. */
    claims: function () {
      if (!stableMode() || ended) return false;
      claim("stable");
      tryHls();
      return true;
    },
    /* WHEP's refusal code (player.js): every WebRTC seat taken -> HLS. */
    refused: function (code) {
      if (code === "webrtc_seats_full") want("seats_full");
    },
    mode: function () {
      return mode;
    },
    reason: function () {
      return why;
    },
    latency: function () {
      return hls && typeof hls.latency === "number" ? hls.latency : null;
    },
    /* seconds between now and the wall-clock time (PROGRAM-DATE-TIME) of the frame on
       screen: how far behind the host the viewer is, packaging included */
    behind: function () {
      var at = hls && hls.playingDate;
      return at ? (Date.now() - at.getTime()) / 1000 : null;
    },
  };
})();
