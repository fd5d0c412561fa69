// The two npm clients, as one script a test page loads: window.Eyevinn.{WHIPClient, WebRTCPlayer}.
import { WHIPClient } from "@eyevinn/whip-web-client";
import { WebRTCPlayer } from "@eyevinn/webrtc-player";

window.Eyevinn = { WHIPClient, WebRTCPlayer };
