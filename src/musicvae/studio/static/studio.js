// musicvae studio: the page's logic. Plain JavaScript, no build step, no network beyond this server.
// State: the clips the server returned (by id), the selected clip, A/B for the slider, four pad corners.
"use strict";

const $ = (id) => document.getElementById(id);
const NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const state = { models: [], clips: new Map(), order: [], selected: null, a: null, b: null,
                corners: [null, null, null, null], pad: { x: 0.5, y: 0.5 }, current: null, seq: 0 };

// ------------------------------------------------------------------ server calls
function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

async function api(path, body, raw) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: raw ? { "Content-Type": "audio/midi" } : { "Content-Type": "application/json" },
    body: raw ? body : JSON.stringify(body),
  };
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    throw new Error("the studio server does not answer (is `musicvae studio` still running?)");
  }
  let data;
  try { data = await res.json(); } catch (err) { data = { error: `unexpected answer (${res.status})` }; }
  if (!res.ok || data.error) throw new Error(data.error || `request failed (${res.status})`);
  return data;
}

let busyCount = 0;
async function run(task) {
  busyCount += 1;
  $("busy").hidden = false;
  try {
    const out = await task();
    showMessage("");
    return out;
  } catch (err) {
    showMessage(err.message);
    return null;
  } finally {
    busyCount -= 1;
    $("busy").hidden = busyCount === 0;
  }
}

function common() {
  const tonic = $("key-tonic").value;
  const seed = $("seed").value;
  return {
    model: $("model").value,
    temperature: parseFloat($("temperature").value),
    // melody models: the rhythm's own temperature, or 0 = one temperature for every token
    rhythm_temperature: $("rhythm-wrap").hidden ? null : ($("rhythm-on").checked ? parseFloat($("rhythm").value) : 0),
    seed: seed === "" ? null : parseInt(seed, 10),
    key: tonic === "" ? null : `${tonic} ${$("key-mode").value}`,
  };
}

// ------------------------------------------------------------------ piano rolls
function drawRoll(canvas, clip, opts = {}) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.fillStyle = "#11131a";
  ctx.fillRect(0, 0, W, H);
  if (!clip) return;
  const notes = clip.notes;
  const steps = Math.max(clip.total_steps, 16);
  let lo = 127, hi = 0;
  for (const n of notes) { lo = Math.min(lo, n[2]); hi = Math.max(hi, n[2]); }
  if (notes.length === 0) { lo = 60; hi = 72; }
  lo -= 2; hi += 2;
  const rows = hi - lo + 1, xs = W / steps, ys = H / rows;
  if (opts.grid !== false) {  // C rows and bar lines
    ctx.fillStyle = "#181b24";
    for (let p = lo; p <= hi; p++) if (p % 12 === 0) ctx.fillRect(0, H - (p - lo + 1) * ys, W, ys);
    ctx.strokeStyle = "#2e333e";
    ctx.lineWidth = 1;
    for (let s = 0; s <= steps; s += clip.steps_per_bar) {
      ctx.beginPath(); ctx.moveTo(s * xs + 0.5, 0); ctx.lineTo(s * xs + 0.5, H); ctx.stroke();
    }
  }
  for (const [start, end, pitch, velocity, track] of notes) {
    ctx.fillStyle = clip.drums[track] ? "#ff6f91" : "#4fb3ff";
    ctx.globalAlpha = 0.55 + 0.45 * velocity / 127;
    ctx.fillRect(start * xs + 0.5, H - (pitch - lo + 1) * ys + 0.5, Math.max((end - start) * xs - 1, 1.5),
                 Math.max(ys - 1, 1.5));
  }
  ctx.globalAlpha = 1;
  if (opts.labels && hi - lo < 40) {
    ctx.fillStyle = "#9aa3b2";
    ctx.font = "10px sans-serif";
    for (let p = lo; p <= hi; p++) if (p % 12 === 0) ctx.fillText(`C${p / 12 - 1}`, 2, H - (p - lo) * ys - 2);
  }
}

// ------------------------------------------------------------------ clips
function clipLabel(id) {
  const c = state.clips.get(id);
  return c ? c.name : "–";
}

function addClips(clips, { show = true } = {}) {
  for (const c of clips) {
    state.clips.set(c.id, c);
    state.order.unshift(c.id);
  }
  while (state.order.length > 200) state.clips.delete(state.order.pop());  // the page keeps the newest 200
  // fill empty interpolation slots with the first clips that arrive
  for (const c of clips) {
    if (!state.a) state.a = c.id; else if (!state.b && state.a !== c.id) state.b = c.id;
    const free = state.corners.indexOf(null);
    if (free >= 0 && !state.corners.includes(c.id)) state.corners[free] = c.id;
  }
  if (clips.length && !state.selected) state.selected = clips[0].id;
  renderClips();
  renderSlots();
  if (show && clips.length) setCurrent(clips[0]);
}

function renderClips() {
  const box = $("clips");
  box.textContent = "";
  for (const id of state.order) {
    const c = state.clips.get(id);
    const card = document.createElement("div");
    card.className = "clip" + (id === state.selected ? " selected" : "");
    card.draggable = true;
    card.dataset.id = id;
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = `${c.name} · ${c.bars} bar${c.bars === 1 ? "" : "s"}`;
    const canvas = document.createElement("canvas");
    canvas.width = 200; canvas.height = 60;
    drawRoll(canvas, c, { grid: false });
    const actions = document.createElement("div");
    actions.className = "actions";
    const button = (label, title, fn) => {
      const b = document.createElement("button");
      b.textContent = label; b.title = title;
      b.addEventListener("click", (ev) => { ev.stopPropagation(); fn(); });
      actions.appendChild(b);
    };
    button("▶", "play", () => { setCurrent(c); play(); });
    button("A", "interpolate from this clip", () => { state.a = id; renderSlots(); });
    button("B", "interpolate to this clip", () => { state.b = id; renderSlots(); });
    button("◰", "next pad corner", () => { state.corners.push(id); state.corners.shift(); renderSlots(); });
    const dl = document.createElement("a");
    dl.href = c.mid; dl.textContent = ".mid"; dl.download = `${c.name}.mid`;
    actions.appendChild(dl);
    card.append(name, canvas, actions);
    card.addEventListener("click", () => { state.selected = id; setCurrent(c); renderClips(); });
    card.addEventListener("dragstart", (ev) => {
      const url = new URL(c.mid, location.href).href;
      const file = `${c.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}.mid`;
      ev.dataTransfer.setData("DownloadURL", `audio/midi:${file}:${url}`);  // drag out to the desktop / a DAW
      ev.dataTransfer.setData("text/uri-list", url);
      ev.dataTransfer.setData("application/x-musicvae-clip", id);
    });
    box.appendChild(card);
  }
}

function renderSlots() {
  $("interp-a").textContent = clipLabel(state.a);
  $("interp-b").textContent = clipLabel(state.b);
  $("corners").querySelectorAll("b").forEach((b, i) => { b.textContent = clipLabel(state.corners[i]); });
  drawPad();
}

function setCurrent(clip) {
  state.current = clip;
  $("preview-name").textContent = `${clip.name} (${clip.model || "uploaded"})`;
  drawRoll($("roll"), clip, { labels: true });
  $("download").href = clip.mid;
  $("download").download = `${clip.name}.mid`;
  const player = $("player");
  player.src = clip.wav;  // server-rendered WAV from the package's General MIDI SoundFont
  $("roll").dataset.clip = clip.id;
}

function play() {
  const player = $("player");
  if (!player.src) return;
  player.currentTime = 0;
  player.play().catch(() => {});  // autoplay rules: the first play needs a click
}

// ------------------------------------------------------------------ tools
async function generate() {
  const req = { ...common(), n: parseInt($("gen-n").value, 10) || 1, label: $("gen-label").value || null };
  const out = await run(() => api("/api/generate", req));
  if (out) addClips(out.clips);
}

let interpPending = null, interpRunning = false;
async function interpolate(body) {
  // newest position wins: while one request runs, only the latest slider position is kept
  interpPending = body;
  if (interpRunning) return;
  interpRunning = true;
  while (interpPending) {
    const req = { ...common(), ...interpPending };
    interpPending = null;
    const out = await run(() => api("/api/interpolate", req));
    if (out) {
      const clip = out.clips[0];
      state.clips.set(clip.id, clip);
      setCurrent(clip);
      if ($("autoplay").checked) play();
    }
  }
  interpRunning = false;
}

function slider() {
  const pos = parseFloat($("interp-slider").value);
  $("interp-pos").textContent = pos.toFixed(2);
  if (!state.a || !state.b) { showMessage("pick clips A and B first (buttons on each clip)"); return; }
  interpolate({ a: state.a, b: state.b, position: pos });
}

function drawPad() {
  const c = $("pad"), ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#2e333e";
  ctx.strokeRect(10.5, 10.5, c.width - 21, c.height - 21);
  ctx.fillStyle = "#9aa3b2"; ctx.font = "10px sans-serif";
  const labels = state.corners.map((id) => (id ? clipLabel(id).slice(0, 14) : "–"));
  ctx.fillText(labels[0], 12, 22); ctx.fillText(labels[1], c.width - 80, 22);
  ctx.fillText(labels[2], 12, c.height - 14); ctx.fillText(labels[3], c.width - 80, c.height - 14);
  const x = 10 + state.pad.x * (c.width - 20), y = 10 + state.pad.y * (c.height - 20);
  ctx.fillStyle = "#f0a030";
  ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.fill();
}

function padMove(ev) {
  if (!(ev.buttons & 1) && ev.type !== "click") return;
  const c = $("pad"), r = c.getBoundingClientRect();
  const fx = (ev.clientX - r.left) * c.width / r.width, fy = (ev.clientY - r.top) * c.height / r.height;
  state.pad.x = Math.min(1, Math.max(0, (fx - 10) / (c.width - 20)));
  state.pad.y = Math.min(1, Math.max(0, (fy - 10) / (c.height - 20)));
  drawPad();
  if (state.corners.includes(null)) { showMessage("the pad needs four clips: press ◰ on four clips"); return; }
  interpolate({ corners: state.corners, x: state.pad.x, y: state.pad.y });
}

async function similar() {
  if (!state.selected) { showMessage("select a clip first"); return; }
  const req = { ...common(), clip: state.selected, n: parseInt($("sim-n").value, 10) || 1,
                similarity: parseFloat($("sim-value").value) };
  const out = await run(() => api("/api/similar", req));
  if (out) addClips(out.clips);
}

async function attribute() {
  if (!state.selected) { showMessage("select a clip first"); return; }
  const amounts = {};
  $("attr-sliders").querySelectorAll("input").forEach((s) => { amounts[s.dataset.name] = parseFloat(s.value); });
  const req = { ...common(), clip: state.selected, amounts };
  const out = await run(() => api("/api/attribute", req));
  if (out) { addClips(out.clips, { show: true }); if ($("autoplay").checked) play(); }
}

async function continueClip() {
  if (!state.selected) { showMessage("select a clip first"); return; }
  const req = { ...common(), clip: state.selected, bars: parseInt($("cont-bars").value, 10) || 8,
                prime_bars: parseInt($("cont-prime").value, 10) || 1 };
  const out = await run(() => api("/api/continue", req));
  if (out) addClips(out.clips);
}

// ------------------------------------------------------------------ files in
async function upload(files) {
  for (const file of files) {
    const out = await run(() => api(`/api/upload?name=${encodeURIComponent(file.name)}`, file, true));
    if (out) { addClips(out.clips); showMessage(`added ${file.name}`, "info"); }
  }
}

function setupDrop() {
  let depth = 0;
  const zone = $("dropzone");
  const external = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
  document.addEventListener("dragenter", (ev) => { if (external(ev)) { depth += 1; zone.hidden = false; } });
  document.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) zone.hidden = true; });
  document.addEventListener("dragover", (ev) => { if (external(ev)) ev.preventDefault(); });
  document.addEventListener("drop", (ev) => {
    depth = 0; zone.hidden = true;
    if (!external(ev)) return;
    ev.preventDefault();
    upload(Array.from(ev.dataTransfer.files));
  });
  $("file").addEventListener("change", (ev) => { upload(Array.from(ev.target.files)); ev.target.value = ""; });
}

// ------------------------------------------------------------------ models and set-up
function modelChanged() {
  const m = state.models.find((x) => x.name === $("model").value) || {};
  if (typeof m.temperature === "number") {  // the model's own default (its most data-like samples)
    $("temperature").value = m.temperature;
    $("temperature-out").textContent = m.temperature.toFixed(2);
    $("temperature").title = `${m.name}'s default: ${m.temperature.toFixed(2)} (its most data-like samples)`;
  }
  $("rhythm-wrap").hidden = !m.takes_rhythm;  // the model's own rhythm temperature, if it records one
  $("rhythm-on").checked = typeof m.rhythm === "number";
  if (typeof m.rhythm === "number") $("rhythm").value = m.rhythm;
  $("rhythm").disabled = !$("rhythm-on").checked;
  $("rhythm-out").textContent = $("rhythm-on").checked ? parseFloat($("rhythm").value).toFixed(2) : "off";
  const labels = m.labels || [];
  $("gen-label-wrap").hidden = labels.length === 0;
  $("gen-label").innerHTML = '<option value="">any</option>';
  for (const l of labels) $("gen-label").add(new Option(l, l));
  const box = $("attr-sliders");
  box.textContent = "";
  for (const name of m.attributes || []) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: -3, max: 3, step: 0.1, value: 0 });
    input.dataset.name = name;
    const out = document.createElement("output");
    out.textContent = "+0.0";
    input.addEventListener("input", () => { out.textContent = (input.value >= 0 ? "+" : "") + parseFloat(input.value).toFixed(1); });
    label.append(`${name.replace(/_/g, " ")} `, input, " ", out);
    box.appendChild(label);
  }
  if (!(m.attributes || []).length) box.textContent = "This model has no attribute vectors.";
  $("key-tonic").disabled = m.key === false;
  $("key-mode").disabled = m.key === false;
  $("key-tonic").title = m.key === false ? "the key constraint applies to melody models" : "";
}

function selectTool(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tool === name));
  document.querySelectorAll(".tool").forEach((t) => { t.hidden = t.id !== `tool-${name}`; });
}

async function init() {
  NOTE_NAMES.forEach((n) => $("key-tonic").add(new Option(n, n)));
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => selectTool(b.dataset.tool)));
  $("temperature").addEventListener("input", () => { $("temperature-out").textContent = parseFloat($("temperature").value).toFixed(2); });
  const rhythmShown = () => {
    $("rhythm").disabled = !$("rhythm-on").checked;
    $("rhythm-out").textContent = $("rhythm-on").checked ? parseFloat($("rhythm").value).toFixed(2) : "off";
  };
  $("rhythm").addEventListener("input", rhythmShown);
  $("rhythm-on").addEventListener("change", rhythmShown);
  $("sim-value").addEventListener("input", () => { $("sim-out").textContent = parseFloat($("sim-value").value).toFixed(2); });
  $("gen-go").addEventListener("click", generate);
  $("sim-go").addEventListener("click", similar);
  $("attr-go").addEventListener("click", attribute);
  $("cont-go").addEventListener("click", continueClip);
  $("interp-slider").addEventListener("input", slider);
  $("pad").addEventListener("mousedown", padMove);
  $("pad").addEventListener("mousemove", padMove);
  $("pad").addEventListener("click", padMove);
  $("play").addEventListener("click", play);
  $("stop").addEventListener("click", () => { $("player").pause(); $("player").currentTime = 0; });
  $("model").addEventListener("change", modelChanged);
  setupDrop();
  drawRoll($("roll"), null);
  drawPad();
  const info = await run(() => api("/api/models"));
  if (!info) return;
  state.models = info.models.filter((m) => !m.error && m.latent !== false);
  for (const m of state.models) $("model").add(new Option(`${m.name} (${m.bars}-bar ${m.kind})`, m.name));
  for (const mode of info.modes) $("key-mode").add(new Option(mode, mode));
  if (state.models.some((m) => m.name === "mel_2bar")) $("model").value = "mel_2bar";
  $("cont-go").disabled = info.composers.length === 0;
  if (!info.composers.length) $("cont-go").title = "no composer installed";
  modelChanged();
  document.body.dataset.ready = "1";
}

init();
