// provador's web page: send an image to /v1/predict and show what the model saw and thinks.
"use strict";

const $ = (id) => document.getElementById(id);
// The page's words in its language, and the classes' names: put there by the server (serve/page.py).
const { lang, text, classes: classNames, collect } = window.PROVADOR;
const t = (message, values = {}) =>
  (text[message] || message).replace(/\{(\w+)\}/g, (_, key) => values[key] ?? "");
const percent = (p) => new Intl.NumberFormat(lang === "pt" ? "pt-BR" : "en-US",
  { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(p);
const nameOf = (label) => classNames[label] || label;
let classes = [];

async function loadModel() {
  try {
    const info = await (await fetch("/v1/model")).json();
    classes = info.classes;
    const acc = info.metrics.accuracy;
    $("model-line").textContent = t("Model {id} · {architecture}",
      { id: info.id, architecture: info.recipe.model.architecture }) +
      (acc != null ? t(" · test accuracy {accuracy}", { accuracy: percent(acc) }) : "");
  } catch (err) {
    showError(t("Could not reach the provador server: {error}", { error: err }));
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("result").hidden = true;
}

let lastPhoto = null; // what "this is a …" keeps (serve --collect)

async function predict(blob, filename) {
  lastPhoto = { blob, filename };
  $("error").hidden = true;
  $("input-preview").src = URL.createObjectURL(blob);
  const form = new FormData();
  form.append("file", blob, filename || "image.png");
  let response;
  try {
    // explain: the heat map of why, over the image the model saw (a few milliseconds more)
    response = await fetch("/v1/predict?top_k=3&include_input=true&explain=true", { method: "POST", body: form });
  } catch (err) {
    showError(t("The server did not answer: {error}", { error: err }));
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(body.error || t("The server answered {status}.", { status: response.status }));
    return;
  }
  show(body.predictions[0]);
}

function show(answer) {
  $("model-input").src = "data:image/png;base64," + answer.input_png;
  $("why").src = "data:image/png;base64," + answer.explanation.png;
  $("label").textContent = nameOf(answer.label);
  $("probability").textContent = percent(answer.probability);
  $("confidence-note").hidden = !answer.low_confidence;
  $("confidence-reason").textContent = answer.low_confidence_reason_localized || t("the model is not sure");
  const bars = $("bars");
  bars.replaceChildren();
  for (const [name, p] of Object.entries(answer.probabilities)) {
    const li = document.createElement("li");
    if (name === answer.label) li.className = "top";
    const label = document.createElement("span");
    label.textContent = nameOf(name);
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${Math.max(p * 100, 0.5)}%`;
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = percent(p);
    li.append(label, bar, pct);
    bars.append(li);
  }
  $("result").hidden = false;
  if (collect) showCollect();
}

// The classroom loop: "this is a …" keeps the photo on the server as an example of that class.
async function showCollect() {
  $("collect").hidden = false;
  $("collect-status").textContent = "";
  const counts = (await (await fetch("/v1/collect")).json()).counts;
  const buttons = $("collect-buttons");
  buttons.replaceChildren();
  for (const name of Object.keys(classNames)) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.label = name;
    button.textContent = `${nameOf(name)} (${counts[name] ?? 0})`;
    button.addEventListener("click", () => keep(name));
    buttons.append(button);
  }
}

async function keep(label) {
  const form = new FormData();
  form.append("file", lastPhoto.blob, lastPhoto.filename || "photo.jpg");
  const response = await fetch(`/v1/collect?label=${encodeURIComponent(label)}`, { method: "POST", body: form });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("collect-status").textContent = body.error || t("The server answered {status}.", { status: response.status });
    return;
  }
  for (const button of $("collect-buttons").children) {
    const name = button.dataset.label;
    button.textContent = `${nameOf(name)} (${body.counts[name] ?? 0})`;
  }
  $("collect-status").textContent = body.created
    ? t("Kept as {label}: {count} photos of it so far.", { label: nameOf(label), count: body.counts[label] })
    : t("Already kept as {label}.", { label: nameOf(label) });
}

function pickFile(file) {
  if (!file) return;
  predict(file, file.name);
}

// File picker, drag and drop, paste.
$("file").addEventListener("change", (e) => pickFile(e.target.files[0]));
$("camera").addEventListener("change", (e) => pickFile(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  pickFile(e.dataTransfer.files[0]);
});
window.addEventListener("paste", (e) => {
  const item = [...e.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) pickFile(item.getAsFile());
});

// A random test image from the dataset.
$("random").addEventListener("click", async () => {
  const response = await fetch("/v1/samples/random");
  const body = await response.json();
  if (!response.ok) { showError(body.error); return; }
  const blob = await (await fetch("data:image/png;base64," + body.png)).blob();
  predict(blob, `test-${body.index}.png`);
});

// Drawing: dark strokes on white, like a product photo; the server negates it.
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
function clearCanvas() { ctx.fillStyle = "white"; ctx.fillRect(0, 0, canvas.width, canvas.height); }
clearCanvas();
let drawing = false;
function point(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
}
canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...point(e)); });
canvas.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#222";
  ctx.lineTo(...point(e)); ctx.stroke();
});
window.addEventListener("pointerup", () => { drawing = false; });
$("clear").addEventListener("click", clearCanvas);
$("predict-drawing").addEventListener("click", () => canvas.toBlob((blob) => predict(blob, "drawing.png")));

// The language switch: remember the choice (the server reads the cookie), then reload in it.
for (const link of document.querySelectorAll("#languages a")) {
  link.addEventListener("click", () => {
    document.cookie = `provador_lang=${link.dataset.lang}; max-age=31536000; path=/; SameSite=Lax`;
  });
}

loadModel();
