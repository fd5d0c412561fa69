/* LiveMarket studio: the host goes live from the browser over WHIP.
 *
 * Preview from getUserMedia with camera/microphone pickers; "Go live" fetches the
 * host's stream key (GET /api/v1/me/stream-key), offers sendonly audio+video (H.264
 * preferred where the browser sends it, so the LL-HLS output carries the camera's
 * stream untouched, docs/hls.md; else VP8; the server keeps a show's codec when the
 * host reconnects, so viewers already connected keep theirs) with every ICE
 * candidate gathered, and POSTs it to /whip/{id} with the key as Bearer token;
 * "End" DELETEs the Location. If the connection fails, or the network comes back,
 * the page publishes again (the server lets the same host replace its session)
 * and shows "reconnecting" meanwhile; viewers stay connected. Upstream bitrate
 * and fps come from getStats, viewers from the relay's figures.
 * States (#lm-broadcast[data-state]): offline, connecting, live, reconnecting, ended.
 * Texts come from the page's catalog (LM.t, keys "broadcast.*"); a refusal names its
 * reason from the catalog when the error code is known, else shows the server's message.
 * A connection that fails to set up (ICE or DTLS) shows the server's reason from the
 * figures ("the connection failed: DTLS handshake failed: no shared cipher") while the
 * page keeps retrying.
 */
(function () {
  "use strict";

  var LM = (window.LM = window.LM || {});
  var root = document.getElementById("lm-broadcast");
  if (!root) return;

  var specialId = root.getAttribute("data-special-id");
  var preview = document.getElementById("lm-broadcast-preview");
  var cameraSelect = root.querySelector("[data-lm-camera]");
  var micSelect = root.querySelector("[data-lm-microphone]");
  var stateLabel = root.querySelector("[data-lm-broadcast-state]");
  var goLiveButton = root.querySelector("[data-lm-go-live]");
  var endButton = root.querySelector("[data-lm-end]");
  var viewersLabel = root.querySelector("[data-lm-broadcast-viewers]");
  var kbpsLabel = root.querySelector("[data-lm-broadcast-kbps]");
  var fpsLabel = root.querySelector("[data-lm-broadcast-fps]");
  var errorLabel = root.querySelector("[data-lm-broadcast-error]");

  var media = null;
  var pc = null;
  var location_ = null;
  var wantLive = false;
  var retryTimer = null;
  var backoff = 1000;
  var lastBytes = null;
  var generation = 0;
  /* The show is over (ended or cancelled): nothing to go live with; say so, offer nothing. */
  var over = false;

  /* Literal keys, so tests/web/test_i18n.py can check every one exists. */
  var STATES = {
    offline: LM.t("broadcast.offline"),
    connecting: LM.t("broadcast.connecting"),
    live: LM.t("broadcast.live"),
    reconnecting: LM.t("broadcast.reconnecting"),
    ended: LM.t("broadcast.ended"),
  };
  var REFUSALS = {
    stream_key_missing: LM.t("broadcast.refusal.stream_key"),
    stream_key_wrong: LM.t("broadcast.refusal.stream_key"),
    special_not_live: LM.t("broadcast.refusal.special_not_live"),
    stream_busy: LM.t("broadcast.refusal.stream_busy"),
    stream_elsewhere: LM.t("broadcast.refusal.stream_elsewhere"),
    codec_unsupported: LM.t("broadcast.refusal.codec_unsupported"),
  };

  function refusal(code, message) {
    return LM.t("broadcast.refused") + ": " + (REFUSALS[code] || message);
  }

  function setState(state) {
    root.setAttribute("data-state", state);
    stateLabel.textContent = STATES[state] || state;
    goLiveButton.hidden = wantLive || over;
    endButton.hidden = !wantLive || over;
  }

  function showError(message) {
    errorLabel.textContent = message || "";
  }

  function fillDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    navigator.mediaDevices.enumerateDevices().then(function (devices) {
      [
        [cameraSelect, "videoinput", LM.t("broadcast.device_camera")],
        [micSelect, "audioinput", LM.t("broadcast.device_microphone")],
      ].forEach(function (pair) {
        var select = pair[0];
        var current = select.value;
        while (select.firstChild) select.removeChild(select.firstChild);
        devices
          .filter(function (d) {
            return d.kind === pair[1];
          })
          .forEach(function (d, index) {
            var option = document.createElement("option");
            option.value = d.deviceId;
            option.textContent = d.label || pair[2].replace("{number}", String(index + 1));
            select.appendChild(option);
          });
        if (current) select.value = current;
      });
    });
  }

  function openMedia() {
    var constraints = {
      video: cameraSelect.value
        ? { deviceId: { exact: cameraSelect.value }, width: 1280, height: 720 }
        : { width: 1280, height: 720 },
      audio: micSelect.value ? { deviceId: { exact: micSelect.value } } : true,
    };
    return navigator.mediaDevices.getUserMedia(constraints).then(function (stream) {
      var old = media;
      media = stream;
      preview.srcObject = stream;
      if (pc) {
        pc.getSenders().forEach(function (sender) {
          if (!sender.track) return;
          var fresh = stream.getTracks().filter(function (t) {
            return t.kind === sender.track.kind;
          })[0];
          if (fresh) sender.replaceTrack(fresh);
        });
      }
      if (old) old.getTracks().forEach(function (t) { t.stop(); });
      fillDevices();
      return stream;
    });
  }

  /* Rank of a video codec for publishing: H.264 in packetization-mode 1 (constrained
     baseline first: every decoder takes it), then VP8, then the rest as the browser lists. */
  function codecRank(c) {
    var mime = c.mimeType.toLowerCase();
    var fmtp = c.sdpFmtpLine || "";
    if (mime === "video/h264" && fmtp.indexOf("packetization-mode=1") >= 0) {
      return fmtp.indexOf("profile-level-id=42e01f") >= 0 ? 0 : 1;
    }
    return mime === "video/vp8" ? 2 : 3;
  }

  function preferH264(transceiver) {
    if (!transceiver.setCodecPreferences || !window.RTCRtpSender || !RTCRtpSender.getCapabilities) return;
    var codecs = RTCRtpSender.getCapabilities("video").codecs.map(function (c, i) {
      return { codec: c, rank: codecRank(c), index: i };
    });
    codecs.sort(function (a, b) { return a.rank - b.rank || a.index - b.index; });
    transceiver.setCodecPreferences(codecs.map(function (item) { return item.codec; }));
  }


  function closePeer() {
    if (pc) {
      pc.close();
      pc = null;
    }
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    if (!wantLive) return;
    setState("reconnecting");
    var delay = backoff + Math.random() * 500;
    backoff = Math.min(backoff * 2, 10000);
    retryTimer = setTimeout(publish, delay);
  }

  function publish() {
    clearTimeout(retryTimer);
    if (!wantLive || !media) return;
    var mine = ++generation;
    closePeer();
    if (root.getAttribute("data-state") !== "reconnecting") setState("connecting");
    var peer = new RTCPeerConnection({ iceServers: [] });
    pc = peer;
    media.getTracks().forEach(function (track) {
      var transceiver = peer.addTransceiver(track, { direction: "sendonly", streams: [media] });
      if (track.kind === "video") preferH264(transceiver);
    });
    peer.onconnectionstatechange = function () {
      if (mine !== generation) return;
      if (peer.connectionState === "connected") {
        backoff = 1000;
        showError("");
        setState("live");
      } else if (peer.connectionState === "failed") {
        scheduleRetry();
        setTimeout(pollFigures, 500); // the server's reason for the failure, if it has one
      } else if (peer.connectionState === "disconnected") {
        // often a blip that ICE recovers from; republish only if it lasts
        setState("reconnecting");
        setTimeout(function () {
          if (mine === generation && peer.connectionState !== "connected") scheduleRetry();
        }, 3000);
      }
    };
    LM.api("/api/v1/me/stream-key")
      .then(function (body) {
        return peer
          .createOffer()
          .then(function (offer) {
            return peer.setLocalDescription(offer);
          })
          .then(function () {
            return LM.waitForIce(peer);
          })
          .then(function () {
            return fetch("/whip/" + specialId, {
              method: "POST",
              headers: { "Content-Type": "application/sdp", Authorization: "Bearer " + body.stream_key },
              body: peer.localDescription.sdp,
              credentials: "same-origin",
            });
          });
      })
      .then(function (response) {
        if (mine !== generation) return null;
        if (response.status === 201) {
          location_ = LM.sessionUrl(response);
          showError("");
          return response.text().then(function (answer) {
            return peer.setRemoteDescription({ type: "answer", sdp: answer });
          });
        }
        return response.json().then(
          function (data) {
            var problem = (data && data.error) || {};
            wantLive = false;
            remember(false);
            closePeer();
            setState("offline");
            showError(refusal(problem.code, problem.message || String(response.status)));
          },
          function () {
            scheduleRetry();
          }
        );
      })
      .catch(function (err) {
        if (mine !== generation) return;
        if (err && err.status && err.status < 500 && err.status !== 0) {
          wantLive = false;
          closePeer();
          setState("offline");
          showError(refusal(err.code, err.message));
          return;
        }
        scheduleRetry();
      });
  }

  var RESUME_KEY = "lm-broadcast-live-" + specialId;

  function remember(live) {
    try {
      if (live) sessionStorage.setItem(RESUME_KEY, "1");
      else sessionStorage.removeItem(RESUME_KEY);
    } catch (err) {
      /* storage may be disabled: no automatic resume then */
    }
  }

  var specialPath = "/api/v1/specials/" + specialId;

  /* The calendar records what happened: a host who goes live before the slot's start
     (up to the allowed early window) opens the show now, and "end" closes it early. */
  function openShow() {
    return LM.api(specialPath).then(function (special) {
      if (special.status !== "scheduled") return special;
      return LM.api(specialPath + "/go-live", { method: "POST" });
    });
  }

  function goLive() {
    showError("");
    wantLive = true;
    remember(true);
    backoff = 1000;
    openShow().catch(function (err) {
      /* The stream endpoint enforces the same window; show why and try anyway. */
      if (err && err.message) showError(err.message);
    });
    (media ? Promise.resolve(media) : openMedia()).then(publish, function () {
      wantLive = false;
      setState("offline");
      showError(LM.t("broadcast.no_media"));
    });
  }

  function end() {
    if (!window.confirm(LM.t("broadcast.confirm_end"))) return;
    wantLive = false;
    remember(false);
    clearTimeout(retryTimer);
    generation++;
    if (location_) {
      fetch(location_, { method: "DELETE", credentials: "same-origin" }).catch(function () {});
      location_ = null;
    }
    closePeer();
    setState("ended");
    LM.api(specialPath + "/end", { method: "POST" }).catch(function (err) {
      if (err && err.message) showError(err.message);
    });
  }

  function pollStats() {
    if (pc && root.getAttribute("data-state") === "live") {
      pc.getStats().then(function (report) {
        report.forEach(function (stat) {
          if (stat.type === "outbound-rtp" && stat.kind === "video") {
            if (lastBytes) {
              var seconds = (stat.timestamp - lastBytes.timestamp) / 1000;
              if (seconds > 0) {
                kbpsLabel.textContent = String(Math.round(((stat.bytesSent - lastBytes.bytes) * 8) / seconds / 1000));
              }
            }
            lastBytes = { bytes: stat.bytesSent, timestamp: stat.timestamp };
            if (typeof stat.framesPerSecond === "number") fpsLabel.textContent = String(Math.round(stat.framesPerSecond));
          }
        });
      });
    }
  }

  function pollFigures() {
    LM.api("/api/v1/specials/" + specialId + "/stream/figures").then(
      function (figures) {
        viewersLabel.textContent = String(figures.viewers || 0);
        var failure = figures.publisher_failure;
        if (failure && wantLive && root.getAttribute("data-state") !== "live") {
          showError(LM.t("broadcast.failed").replace("{reason}", failure.reason));
        }
      },
      function () {}
    );
  }

  goLiveButton.addEventListener("click", goLive);
  endButton.addEventListener("click", end);
  cameraSelect.addEventListener("change", function () {
    if (media) openMedia().catch(function () { showError(LM.t("broadcast.no_media")); });
  });
  micSelect.addEventListener("change", function () {
    if (media) openMedia().catch(function () { showError(LM.t("broadcast.no_media")); });
  });
  window.addEventListener("online", function () {
    if (wantLive) {
      backoff = 1000;
      setState("reconnecting");
      publish();
    }
  });
  window.addEventListener("pagehide", function () {
    if (location_) fetch(location_, { method: "DELETE", keepalive: true }).catch(function () {});
  });
  setInterval(pollStats, 1000);
  setInterval(pollFigures, 3000);

  LM.broadcast = {
    state: function () {
      return root.getAttribute("data-state");
    },
    goLive: goLive,
    end: end,
  };
  function showOver(special) {
    if (special.status !== "ended" && special.status !== "cancelled") return;
    over = true;
    wantLive = false;
    remember(false);
    clearTimeout(retryTimer);
    closePeer();
    if (media) media.getTracks().forEach(function (track) { track.stop(); });
    cameraSelect.disabled = micSelect.disabled = true;
    setState("ended");
  }
  if (LM.realtime && typeof LM.realtime.on === "function") {
    LM.realtime.on("special.status", showOver);
  }

  var bootSpecial = LM.bootstrap().special || {};
  setState("offline");
  showOver(bootSpecial);
  if (over) return;
  var resume = false;
  try {
    resume = sessionStorage.getItem(RESUME_KEY) === "1";
  } catch (err) {
    resume = false;
  }
  if (resume) {
    // the page was reloaded while live: go live again (viewers stay connected meanwhile)
    wantLive = true;
    setState("reconnecting");
    openMedia().then(publish, function () {
      wantLive = false;
      setState("offline");
      showError(LM.t("broadcast.no_media"));
    });
  } else {
    openMedia().catch(function () {
      showError(LM.t("broadcast.no_media"));
    });
  }
})();
