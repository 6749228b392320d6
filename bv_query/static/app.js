// Chart page: talks only to this app's API (same origin); no build step, no CDN.
"use strict";
const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const RANGES = { "24h": 864e5, "7d": 7 * 864e5, "30d": 30 * 864e5, "1y": 365 * 864e5 };
const params = new URLSearchParams(location.search);
let selected = [];          // [{name, display_name, unit}]
let range = null;           // {start, end} epoch ms: the chosen range
let view = null;            // the zoomed window, if any
let plot = null;
let drawSeq = 0;            // only the newest request may draw (zooms and picks overlap)

function headers() {
  const key = $("apikey").value.trim();
  localStorage.setItem("bv_api_key", key);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path) {
  const res = await fetch(path, { headers: headers() });
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error((body && body.error) ? `${body.error}${body.parameter ? " (" + body.parameter + ")" : ""}` : res.statusText);
  return body;
}

function status(text, error = false) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

async function loadSites() {
  const { sites } = await api("/sites");
  $("site").innerHTML = sites.map((s) => `<option value="${s.name}">${s.name}</option>`).join("");
  if (params.get("site")) $("site").value = params.get("site");
  const site = sites.find((s) => s.name === $("site").value);
  if (!range) {
    const last = site && site.last_day ? Date.parse(site.last_day + "T00:00:00Z") + 864e5 : Date.now();
    range = params.get("start") ? { start: +params.get("start"), end: +params.get("end") } : { start: last - RANGES["24h"], end: last };
  }
  showRange();
}

async function search() {
  const q = encodeURIComponent($("search").value);
  try {
    const { points } = await api(`/sites/${encodeURIComponent($("site").value)}/points?q=${q}&limit=50`);
    $("results").innerHTML = "";
    for (const p of points) {
      const li = document.createElement("li");
      li.innerHTML = `${p.display_name}<small>${p.equipment || ""} · ${p.unit || "no unit"} · ${p.name}</small>`;
      li.onclick = () => toggle(p);
      $("results").appendChild(li);
    }
  } catch (e) { status(e.message, true); }
}

function toggle(p) {
  const i = selected.findIndex((s) => s.name === p.name);
  if (i >= 0) selected.splice(i, 1); else if (selected.length < 10) selected.push(p);
  $("selected").innerHTML = "";
  selected.forEach((s, k) => {
    const li = document.createElement("li");
    li.innerHTML = `<span style="color:${COLORS[k]}">■</span> ${s.display_name} <small>${s.unit || ""}</small>`;
    li.onclick = () => toggle(s);
    $("selected").appendChild(li);
  });
  view = null;
  draw();
}

function queryUrl(win, format) {
  const q = new URLSearchParams({ site_name: $("site").value, start_time: Math.floor(win.start), end_time: Math.ceil(win.end),
    interval: "auto", max_points: String(Math.max(200, $("chart").clientWidth || 800)), agg: "avg", format });
  selected.forEach((s) => q.append("point", s.name));
  return "/timeseries/query?" + q.toString();
}

async function draw() {
  if (!selected.length) { drawSeq++; if (plot) { plot.destroy(); plot = null; } $("chart").dataset.series = "0"; status("Pick a point."); return; }
  const win = view || range;
  const seq = ++drawSeq;
  let body;
  try { body = await api(queryUrl(win, "json")); } catch (e) { if (seq === drawSeq) status(e.message, true); return; }
  if (seq !== drawSeq) return;
  // Align every series on the union of timestamps; null = no sample there (a gap).
  const times = [...new Set(body.samples.map((s) => s.timestamp))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = selected.map(() => new Array(times.length).fill(null));
  const which = new Map(selected.map((s, i) => [s.name, i]));
  for (const s of body.samples) columns[which.get(s.point_name)][index.get(s.timestamp)] = s.value;
  const units = [...new Set(selected.map((s) => s.unit || ""))].slice(0, 2);
  const data = [times.map((t) => t / 1000), ...columns];
  const opts = {
    width: $("chart").clientWidth || 900, height: 420,
    scales: { x: { time: true } },
    series: [{}, ...selected.map((s, i) => ({ label: s.display_name, stroke: COLORS[i], width: 1.5, spanGaps: false,
      scale: units.indexOf(s.unit || "") === 1 ? "u2" : "u1" }))],
    axes: [{}, { scale: "u1", label: units[0] || "" }, ...(units.length > 1 ? [{ scale: "u2", side: 1, label: units[1], grid: { show: false } }] : [])],
    hooks: { setSelect: [(u) => {
      if (u.select.width < 5) return;
      const a = u.posToVal(u.select.left, "x") * 1000, b = u.posToVal(u.select.left + u.select.width, "x") * 1000;
      view = { start: a, end: b };
      draw();
    }] },
    cursor: { drag: { x: true, y: false, setScale: false } },
  };
  if (plot) plot.destroy();
  plot = new uPlot(opts, data, $("chart"));
  $("chart").dataset.series = String(selected.length);
  const m = body.metadata;
  status(`${m.rows} rows · interval ${m.interval} · source ${m.source} · ${m.files_read} files · ${m.query_time_ms} ms` +
    (m.unknown_points.length ? ` · unknown: ${m.unknown_points.join(", ")}` : ""));
  $("csv").dataset.url = queryUrl(win, "csv");
}

function toLocalInput(ms) { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 6e4); return d.toISOString().slice(0, 16); }
function showRange() { $("from").value = toLocalInput(range.start); $("to").value = toLocalInput(range.end); }

async function downloadCsv(ev) {
  ev.preventDefault();
  if (!$("csv").dataset.url) return;
  const res = await fetch($("csv").dataset.url, { headers: headers() });
  if (!res.ok) { status("CSV download failed: " + res.statusText, true); return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await res.blob());
  a.download = `${$("site").value}.csv`;
  a.click();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("apikey").value = localStorage.getItem("bv_api_key") || "";
  document.querySelectorAll("[data-range]").forEach((b) => b.onclick = () => {
    const end = range ? range.end : Date.now();
    range = { start: end - RANGES[b.dataset.range], end }; view = null; showRange(); draw();
  });
  $("apply").onclick = () => { range = { start: new Date($("from").value).getTime(), end: new Date($("to").value).getTime() }; view = null; draw(); };
  $("reset").onclick = () => { view = null; draw(); };
  $("search").oninput = () => search();
  $("site").onchange = () => { selected = []; $("selected").innerHTML = ""; range = null; view = null; loadSites().then(search); draw(); };
  $("apikey").onchange = () => loadSites().then(search);
  $("csv").onclick = downloadCsv;
  try { await loadSites(); await search(); } catch (e) { status(e.message, true); }
});
