// The emosketch mirror page: camera or photo -> /api/classify -> the agent; the panel frames and
// the agent's channels arrive as server-sent events from /api/stream. No library, no CDN.
"use strict";

const COLOURS = { fear: "#b48cff", mad: "#ff5a5a", joy: "#ffd24c", love: "#ff8cc8", sad: "#4c8cff",
                  surprise: "#7dff8a", power: "#ff9a3c" };
const HISTORY_SECONDS = 20;
const state = { info: null, history: [], frames: 0, camera: null, cameraTimer: null, sending: false,
                firstCameraFrame: true, playing: false, source: null, sketchTimer: null, lost: false, tick: null,
                plotSaid: -Infinity };
const MAX_SIDE = 2048;  // a photo is shrunk to this side here, as the server would shrink it (serve's max_side)

const $ = (id) => document.getElementById(id);

function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const kind = response.headers.get("content-type") || "";
  if (!response.ok) {
    const body = kind.includes("json") ? await response.json() : { error: await response.text() };
    const error = new Error(body.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return kind.includes("json") ? response.json() : response.blob();
}

// ---- the panel ---------------------------------------------------------------------------------

function drawPanel(event) {
  const canvas = $("oled");
  const ctx = canvas.getContext("2d");
  const w = event.width, h = event.height;
  const bytes = Uint8Array.from(atob(event.data), (c) => c.charCodeAt(0));
  const stride = Math.ceil(w / 8);  // gfx: rows, MSB = leftmost pixel
  const scale = Math.floor(Math.min(canvas.width / w, canvas.height / h));
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = $("colour").value;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (bytes[y * stride + (x >> 3)] & (0x80 >> (x & 7))) ctx.fillRect(x * scale, y * scale, scale, scale);
    }
  }
}

// ---- the agent plot ----------------------------------------------------------------------------

function drawPlot() {
  const canvas = $("plot");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.fillStyle = "#0b0c10";
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = "#2a2e36";
  for (let v = 0.5; v <= 1.5; v += 0.5) {
    const y = height - (v / 1.5) * (height - 10);
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(width, y); ctx.stroke();
  }
  if (state.history.length < 2 || !state.info) return;
  const now = state.history[state.history.length - 1].time;
  for (const channel of state.info.channels) {
    ctx.strokeStyle = COLOURS[channel] || "#fff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    state.history.forEach((p, i) => {
      const x = width - ((now - p.time) / HISTORY_SECONDS) * width;
      const y = height - (Math.min(1.5, p.levels[channel]) / 1.5) * (height - 10);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  if (now - state.plotSaid >= 1 || now < state.plotSaid) {  // its words, for a screen reader: once a second at most
    canvas.setAttribute("aria-label", plotText(state.history[state.history.length - 1].levels, state.info.channels));
    state.plotSaid = now;
  }
}

function plotText(levels, channels) {  // the plot's text alternative: each channel's level now, strongest first
  const shown = channels.filter((c) => Number.isFinite(levels[c])).sort((a, b) => levels[b] - levels[a]);
  const now = shown.map((c) => `${c} ${levels[c].toFixed(2)}`).join(", ");
  return `the agent's channels over the last ${HISTORY_SECONDS} seconds; now ${now || "none"}`;
}

function onFrame(message) {
  const event = JSON.parse(message.data);
  if (!state.playing) drawPanel(event);
  state.history.push({ time: event.time, levels: event.levels });
  while (state.history.length && event.time - state.history[0].time > HISTORY_SECONDS) state.history.shift();
  drawPlot();
  state.frames += 1;
  $("frame-count").textContent = String(state.frames);
  $("dominant").textContent = event.dominant || "rest";
  $("zoom").textContent = event.zoom.toFixed(2);
  document.body.dataset.frames = String(state.frames);
}

// ---- reading a face ----------------------------------------------------------------------------

function clearResult() {  // after a picture that could not be read: nothing of the one before stays on show
  $("label").textContent = "–";
  $("confidence").textContent = "";
  $("probs").replaceChildren();
  const canvas = $("photo");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

function showResult(result, image) {
  const unseen = result.face_kept || result.not_stimulated;  // no face found: what it read is not a reading
  $("label").textContent = unseen ? "no face in view" : result.label;
  $("confidence").textContent = unseen ? "" : `(${Math.round(result.confidence * 100)}%)`;
  const list = $("probs");
  list.replaceChildren();
  for (const [name, p] of Object.entries(result.probabilities)) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(p * 160)}px`;
    const value = document.createElement("span");
    value.textContent = p.toFixed(2);
    li.append(label, bar, value);
    list.append(li);
  }
  if (image) {
    const canvas = $("photo");
    const ctx = canvas.getContext("2d");
    const s = Math.min(canvas.width / image.width, canvas.height / image.height);
    const dx = (canvas.width - image.width * s) / 2, dy = (canvas.height - image.height * s) / 2;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#fff";  // a transparent picture on white, as the server reads it
    ctx.fillRect(dx, dy, image.width * s, image.height * s);
    ctx.drawImage(image, dx, dy, image.width * s, image.height * s);
    if (result.box.found) {
      ctx.strokeStyle = "#4cc3ff";
      ctx.lineWidth = 2;
      ctx.strokeRect(dx + result.box.x * s, dy + result.box.y * s, result.box.width * s, result.box.height * s);
    }
  }
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
}

// useFace: the picture's face becomes the one drawn; onlyFound (camera frames): a picture in which no face is
// found neither stimulates the agent nor becomes the face
async function classify(blob, useFace, image, onlyFound = false) {
  const flags = `${useFace ? "&face=1" : ""}${onlyFound ? "&found=1" : ""}`;
  const result = await api(`/api/classify?stimulate=1${flags}`, {
    method: "POST", body: blob, headers: { "Content-Type": blob.type || "image/jpeg" } });
  showResult(result, image);
  const moved = Object.entries(result.stimulated).map(([c, a]) => `${c} +${a.toFixed(2)}`).join(", ");
  if (result.face_kept || result.not_stimulated) {
    status("no face found in this picture: the agent and the face drawn stay as they were");
  } else {
    const whole = useFace && !result.box.found ?
      " (no frontal face found: the whole picture is drawn, and a face turned away or covered seldom reads on the panel)" : "";
    status((moved ? `${result.label}: stimulated ${moved}` : `${result.label}: the agent rests`) + whole);
  }
  return result;
}

// Shrink a picture past the server's limits (a phone's photo of 9 MB, 36 megapixels) on the page, which has
// it decoded already, rather than have it refused
async function sendable(file, image) {
  const limits = state.info.limits;
  const scale = Math.min(1, MAX_SIDE / Math.max(image.width, image.height),
                         Math.sqrt(limits.max_pixels / (image.width * image.height)));
  if (file.size <= limits.max_upload_bytes && scale >= 1) return file;
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.floor(image.width * scale));
  canvas.height = Math.max(1, Math.floor(image.height * scale));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";  // a transparent picture is read laid on white, as the server lays it
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error("the browser could not shrink it; try a smaller photo"))),
    "image/jpeg", 0.9));
}

async function onUpload(input) {
  const file = input.files[0];
  if (!file) return;
  $("use-anyway").hidden = true;
  if (!file.size) {
    clearResult();
    status(`${file.name} is empty`, true);
    input.value = "";
    return;
  }
  status(`reading ${file.name} ...`);
  if (state.camera) stopCamera("camera off while the photo is read");  // its next frame would replace the photo
  if (state.tick) await state.tick;  // a frame already sent is answered first, so the photo's face comes last
  try {
    let image;
    try {
      image = await createImageBitmap(file);
    } catch {
      throw new Error("this browser cannot open it as a picture (use a PNG, JPEG, WebP, BMP or GIF)");
    }
    const body = await sendable(file, image);
    // found=1: a photo in which no face is found leaves the face drawn before, unless the user asks for it
    const result = await classify(body, true, image, true);
    if (result.face_kept) {
      status(`no face found in ${file.name}: the face drawn before stays; "Draw it anyway" draws the whole picture`);
      const anyway = $("use-anyway");
      anyway.hidden = false;
      anyway.onclick = async () => {
        anyway.hidden = true;
        try { await classify(body, true, image, false); } catch (err) { status(err.message, true); }
      };
    }
  } catch (err) {
    clearResult();
    status(`${file.name}: ${err.message}`, true);
  }
  input.value = "";
}

function cameraTick() {
  if (state.sending || state.lost || !$("video").videoWidth) return;  // lost: the session is being found again
  state.tick = readCameraFrame();
}

async function readCameraFrame() {
  const video = $("video");
  state.sending = true;
  $("use-anyway").hidden = true;  // the camera's face now: a photo's offer is gone
  try {
    const grab = document.createElement("canvas");
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
    const useFace = state.firstCameraFrame || $("camera-face").checked;
    const result = await classify(blob, useFace, grab, true);
    if (result.face) state.firstCameraFrame = false;  // until a frame shows a face, the next ones are tried
  } catch (err) {
    status(`camera frame: ${err.message}`, true);
  } finally {
    state.sending = false;
    state.tick = null;
  }
}

function stopCamera(why) {
  if (state.camera) state.camera.getTracks().forEach((t) => t.stop());
  clearInterval(state.cameraTimer);
  state.cameraTimer = null;
  state.camera = null;
  $("video").hidden = true;
  $("camera").textContent = "Start camera";
  if (why) status(why);
}

async function toggleCamera() {
  const button = $("camera");
  if (state.camera) {
    stopCamera("camera off");
    return;
  }
  button.disabled = true;  // a second click while the browser asks would open a second camera no button stops
  try {
    state.camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    const hint = err.name === "NotAllowedError" ? " (allow the camera in the address bar, or upload a photo)" :
      err.name === "NotFoundError" ? " (no camera was found; upload a photo instead)" : "";
    status(`no camera: ${err.message}${hint}`, true);
    return;
  } finally {
    button.disabled = false;
  }
  // unplugged, or taken by another app: say so, rather than send the last frame again every 0.7 s
  state.camera.getTracks().forEach((t) => t.addEventListener("ended", () => stopCamera("the camera stopped")));
  // the live picture is shown while the camera is on: a hidden muted video is paused by the browser, and
  // every frame grabbed from it would be its first (black) one
  $("video").srcObject = state.camera;
  $("video").hidden = false;
  state.firstCameraFrame = true;
  state.cameraTimer = setInterval(cameraTick, 700);
  button.textContent = "Stop camera";
  status("camera on: reading your face every 0.7 s");
}

// ---- the sketch beside the panel --------------------------------------------------------------

async function refreshSketch() {
  try {
    const blob = await api("/api/render", { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify({ agent: true, format: "sketch", scale: 3 }) });
    const img = $("sketch");
    const old = img.src;
    img.src = URL.createObjectURL(blob);
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    document.body.dataset.sketches = String(Number(document.body.dataset.sketches || 0) + 1);
  } catch (err) {
    if (!state.lost) status(`sketch: ${err.message}`, true);
  }
}

// ---- make it smile ---------------------------------------------------------------------------

function drawCurve(p, climbFrom) {
  const canvas = $("smile-plot");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#0b0c10";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#2a2e36";
  const x0 = (climbFrom / (p.length - 1)) * canvas.width;
  ctx.beginPath(); ctx.moveTo(x0, 0); ctx.lineTo(x0, canvas.height); ctx.stroke();
  ctx.strokeStyle = "#ffd24c";
  ctx.lineWidth = 2;
  ctx.beginPath();
  p.forEach((v, i) => {
    const x = (i / (p.length - 1)) * canvas.width, y = canvas.height - 4 - v * (canvas.height - 8);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  canvas.setAttribute("aria-label", curveText(p, climbFrom));
}

function curveText(p, climbFrom) {  // the search curve's text alternative, in the words `emosketch search` prints
  return `the target's probability along the search: ${p[0].toFixed(2)} at the start, ` +
    `${p[climbFrom].toFixed(2)} with its own code, ${p[p.length - 1].toFixed(2)} at the end (${p.length} frames)`;
}

async function makeItSmile() {
  const target = $("smile-target").value;
  const button = $("smile");
  button.disabled = true;  // until its path has played: a second search would play over it
  $("smile-result").textContent = "searching ...";
  try {
    const out = await api("/api/search", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ target, steps: 20 }) });
    drawCurve(out.p, out.climb_from);
    state.playing = true;
    for (const [i, data] of out.frames.entries()) {  // the path, at 8 frames a second
      drawPanel({ width: out.width, height: out.height, data });
      await new Promise((resolve) => setTimeout(resolve, 125));
      if (i === out.frames.length - 1) await new Promise((resolve) => setTimeout(resolve, 1200));
    }
    state.playing = false;
    const p = out.p[out.p.length - 1];
    $("smile-result").textContent = `${out.reached ? "reached" : "not reached"}: ${target} at p ${p.toFixed(2)}`;
    document.body.dataset.searched = out.reached ? "reached" : "not-reached";
  } catch (err) {
    state.playing = false;
    $("smile-result").textContent = err.status === 429 ? "another search is running; try again in a moment" :
      err.message;
  } finally {
    button.disabled = false;
  }
}

// ---- start -------------------------------------------------------------------------------------

async function downloadPack() {
  const chosen = [...document.querySelectorAll("#pack-emotions input:checked")].map((el) => el.value);
  if (chosen.length < 2) {  // an empty list would ask for every emotion
    status("tick at least two emotions for the pack", true);
    return;
  }
  const button = $("download");
  button.disabled = true;
  status(`building a pack of ${chosen.join(", ")} (about 20 s) ...`);
  try {
    const blob = await api(`/api/pack?emotions=${encodeURIComponent(chosen.join(","))}`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "emosketch-pack.zip";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    status(`pack ready (${Math.round(blob.size / 1024)} KB)`);
    document.body.dataset.pack = String(blob.size);
  } catch (err) {
    status(`pack: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  state.info = await api("/api/info");
  const channels = $("channels"), legend = $("legend"), emotions = $("pack-emotions");
  for (const channel of state.info.channels) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = channel;
    button.setAttribute("aria-label", `stimulate ${channel}`);
    button.dataset.channel = channel;
    button.addEventListener("click", async () => {
      if (state.lost) {  // its answer could set a session the page is not showing
        status("not connected to the mirror; retrying ...", true);
        return;
      }
      try {
        await api("/api/agent/stimulate", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ channel, amount: 0.8 }) });
        status(`stimulated ${channel}`);
      } catch (err) { status(err.message, true); }
    });
    channels.append(button);
    const key = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLOURS[channel] || "#fff";
    key.append(swatch, document.createTextNode(channel));
    legend.append(key);
  }
  for (const emotion of state.info.classes) {
    const option = document.createElement("option");
    option.value = option.textContent = emotion;
    option.selected = emotion === "happy";
    $("smile-target").append(option);
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = emotion;
    box.checked = ["neutral", "happy", "sad"].includes(emotion);
    label.append(box, document.createTextNode(` ${emotion} `));
    emotions.append(label);
  }
  showDeviceUrl();
  $("upload").addEventListener("change", (e) => onUpload(e.target));
  $("camera").addEventListener("click", toggleCamera);
  $("download").addEventListener("click", downloadPack);
  $("smile").addEventListener("click", makeItSmile);
  if (!state.info.search) {  // the generator's classes are not the guide's: the server says so at start
    $("smile").disabled = true;
    $("smile-result").textContent = "off: this mirror's generator has no guide (serve --guide)";
  }
  connect();
  drawPlot();
  document.body.dataset.ready = "1";
}

function showDeviceUrl() {
  $("device-url").textContent =
    `${location.origin}/api/stream?session=${encodeURIComponent(state.info.session)}&format=ssd1306`;
}

// The frame stream and the sketch beside it. When the stream fails (the server stopped, or refused it: a fifth
// tab of one session), both stop and /api/info is asked every 3 s; once it answers, its one answer sets the
// session cookie, and only then are the stream and the sketch opened again. Reopened at once, each would have
// come back with a session of its own, and the buttons would have moved a face the page no longer showed.
function connect() {
  const source = new EventSource("/api/stream?format=gfx&fps=12");
  state.source = source;
  source.onmessage = onFrame;
  source.onopen = () => {
    if (state.lost) status("connected again");
    state.lost = false;
  };
  source.onerror = () => {
    source.close();
    clearInterval(state.sketchTimer);
    state.lost = true;
    status("lost the frame stream (the mirror stopped, or this face is open in too many tabs); retrying ...", true);
    setTimeout(reconnect, 3000);
  };
  refreshSketch();
  clearInterval(state.sketchTimer);
  state.sketchTimer = setInterval(refreshSketch, 500);
}

async function reconnect() {
  try {
    state.info = await api("/api/info");
  } catch {
    setTimeout(reconnect, 3000);
    return;
  }
  showDeviceUrl();
  connect();
}

window.addEventListener("DOMContentLoaded", () => { start().catch((err) => status(err.message, true)); });
