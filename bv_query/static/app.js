// Chart page of the Building Vitals query API. Talks only to this app (same origin); no build
// step, nothing from a CDN. Data shaping and chart options live in chart.js.
//
// URL parameters (links, tests): ?site=NAME&start=T&end=T&point=RAW_NAME (point repeatable),
// T = epoch ms or ISO 8601. The page rewrites them as points and ranges are chosen, so the
// address bar is always a link to the current chart (the zoom is not kept). Other screens and
// live mode add their own (views.js): view=heatmap&days=N&until=DAY, view=health&date=DAY,
// live=1&refresh=SECONDS.
"use strict";
const $ = (id) => document.getElementById(id);
const DAY = 864e5;
const RANGES = { "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "1y": 365 * DAY };
const MAX_SELECTED = 10;
// view: the zoom window (null = the whole range); screen: chart, heatmap or health (views.js).
const state = { sites: [], selected: [], range: null, view: null, plot: null, drawSeq: 0, searchSeq: 0,
  screen: "chart", live: false };

// ---- API ----
function authHeaders() {
  const key = $("apikey").value.trim();
  return key ? { Authorization: "Bearer " + key } : {};
}

// The response if it is 2xx; otherwise throws with the API's JSON error text (and .status).
async function api(path) {
  const res = await fetch(path, { headers: authHeaders() });
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body.error) message = body.error + (body.parameter ? ` (parameter: ${body.parameter})` : "");
  } catch { /* not JSON: keep the status line */ }
  throw Object.assign(new Error(message), { status: res.status });
}
const getJson = async (path) => (await api(path)).json();
const site = () => $("site").value;

function showStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

// ---- ranges ----
function parseTime(text) { return /^\d+$/.test(text) ? +text : Date.parse(text); }

// The end of the newest data: midnight after the site's last day, or now if that is sooner.
function dataEnd() {
  const info = state.sites.find((s) => s.name === site());
  return info?.last_day ? Math.min(Date.parse(info.last_day) + DAY, Date.now()) : Date.now();
}

function setRange(start, end, button = null) {
  state.range = { start, end };
  state.view = null;
  document.querySelectorAll("[data-range]").forEach((b) => b.classList.toggle("on", b.dataset.range === button));
  $("from").value = toLocalInput(start);
  $("to").value = toLocalInput(end);
}

function toLocalInput(ms) {  // datetime-local wants local wall time without a zone
  return new Date(ms - new Date(ms).getTimezoneOffset() * 6e4).toISOString().slice(0, 16);
}

// ---- sites and points ----
async function loadSites() {
  state.sites = (await getJson("/sites")).sites;
  const wanted = new URLSearchParams(location.search).get("site");
  $("site").replaceChildren(...state.sites.map((s) => new Option(s.name, s.name, false, s.name === wanted)));
  if (!state.sites.length) showStatus("No site has data yet: materialize a site-day first.", true);
}

async function search() {
  const seq = ++state.searchSeq;  // typing fires many searches: only the newest may render
  if (!site()) return;
  try {
    const q = encodeURIComponent($("search").value);
    const body = await getJson(`/sites/${encodeURIComponent(site())}/points?q=${q}&limit=50`);
    if (seq !== state.searchSeq) return;
    $("hits").textContent = `${body.points.length} of ${body.total} points`;
    $("results").replaceChildren(...body.points.map(resultItem));
  } catch (e) { showStatus(e.message, true); }
}

function resultItem(p) {
  const li = document.createElement("li");
  li.dataset.name = p.name;
  li.title = p.name;
  li.classList.toggle("on", state.selected.some((s) => s.name === p.name));
  const title = document.createElement("b");
  title.textContent = p.display_name;
  const detail = document.createElement("small");
  detail.textContent = `${p.equipment || "no equipment"} · ${p.unit || "no unit"} · ${p.name}`;
  li.append(title, detail);
  li.onclick = () => toggle(p);
  return li;
}

function toggle(p) {
  if (state.screen === "heatmap") return heatPick(p);  // the heatmap shows one point: the first
  const i = state.selected.findIndex((s) => s.name === p.name);
  if (i >= 0) state.selected.splice(i, 1);
  else if (state.selected.length >= MAX_SELECTED) return showStatus(`At most ${MAX_SELECTED} points on one chart.`, true);
  else state.selected.push(p);
  renderSelected();
  state.view = null;
  draw();
}

function renderSelected() {
  $("selected").replaceChildren(...state.selected.map((p, k) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = BV_COLORS[k % BV_COLORS.length];
    li.append(swatch, `${p.display_name} `, Object.assign(document.createElement("small"), { textContent: p.unit || "" }));
    li.title = "remove " + p.name;
    li.onclick = () => toggle(p);
    return li;
  }));
  document.querySelectorAll("#results li").forEach((li) =>
    li.classList.toggle("on", state.selected.some((s) => s.name === li.dataset.name)));
}

// Points named in the URL: look each up in the catalog for its display name and unit.
async function selectFromUrl() {
  for (const name of new URLSearchParams(location.search).getAll("point").slice(0, MAX_SELECTED)) {
    const { points } = await getJson(`/sites/${encodeURIComponent(site())}/points?q=${encodeURIComponent(name)}&limit=1000`);
    state.selected.push(points.find((p) => p.name === name) || { name, display_name: name, unit: null });
  }
  renderSelected();
}

// ---- chart ----
const chartWidth = () => Math.max(300, $("chart").clientWidth || 900);

function queryUrl(win, format) {
  // max_points ≈ the chart's width in pixels: `auto` then picks the finest resolution that fits.
  const q = new URLSearchParams({ site_name: site(), start_time: Math.floor(win.start), end_time: Math.ceil(win.end),
    interval: "auto", max_points: String(Math.round(chartWidth())), agg: "avg", format });
  state.selected.forEach((p) => q.append("point", p.name));
  return "/timeseries/query?" + q;
}

function clearChart() {
  if (state.plot) state.plot.destroy();
  state.plot = null;
  $("chart").dataset.series = "0";
}

// quiet: a live refresh, which keeps the last status instead of flashing "Loading…".
async function draw(quiet = false) {
  syncUrl();
  const seq = ++state.drawSeq;  // zooms and picks overlap: only the newest answer may draw
  $("reset").disabled = !state.view;
  if (!state.selected.length) { clearChart(); showStatus("Pick one or more points."); showAge(); return; }
  const win = state.view || state.range;
  if (quiet !== true) showStatus("Loading…");
  let body;
  try { body = await getJson(queryUrl(win, "json")); } catch (e) {
    if (seq === state.drawSeq) showStatus(e.message, true);
    return;
  }
  if (seq !== state.drawSeq) return;
  const m = body.metadata;
  const data = bvColumns(state.selected, body.samples, m.interval === "raw");
  clearChart();
  state.plot = new uPlot(bvOptions(state.selected, win, chartWidth(), zoomTo), data, $("chart"));
  $("chart").dataset.series = String(state.selected.length);
  Object.assign($("status").dataset, { rows: m.rows, interval: m.interval, source: m.source });
  const zoom = state.view ? `zoomed to ${fmt(win.start)} – ${fmt(win.end)} · ` : "";
  const unknown = m.unknown_points?.length ? ` · unknown points: ${m.unknown_points.join(", ")}` : "";
  const live = state.live ? liveLabel() + " · " : "";
  showStatus(`${live}${zoom}${m.rows} rows · interval ${m.interval} · source ${m.source} · ` +
    `${m.files_read ?? "?"} files · ${m.query_time_ms} ms${m.rows ? "" : " · no data in this range"}${unknown}`);
  if (state.live) refreshNewest();
}

const fmt = (ms) => new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

function zoomTo(start, end) {
  if (state.live) setLive(false);  // a zoomed window is not "today" any more
  state.view = { start, end };
  draw();
}

// A fetch, not a plain link, so the Authorization header goes along when a key is set.
async function downloadCsv(ev) {
  ev.preventDefault();
  if (!state.selected.length) return showStatus("Pick a point first.", true);
  const win = state.view || state.range;
  try {
    const blob = await (await api(queryUrl(win, "csv"))).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${site()}_${new Date(win.start).toISOString().slice(0, 10)}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) { showStatus("CSV: " + e.message, true); }
}

// ---- wiring ----
// (Re)builds the page from the URL: on load, after an API key, and on back/forward.
async function start() {
  try {
    await loadSites();
    if (!site()) return;
    state.selected = [];
    const params = new URLSearchParams(location.search);
    const [a, b] = [parseTime(params.get("start") || ""), parseTime(params.get("end") || "")];
    if (a < b) setRange(a, b); else setRange(dataEnd() - DAY, dataEnd(), "24h");
    liveFromUrl(params);
    heatFromUrl(params);
    healthFromUrl(params);
    await selectFromUrl();
    await search();
    await showScreen(params.get("view") || "chart");
  } catch (e) { showStatus(e.message, true); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("apikey").value = localStorage.getItem("bv_api_key") || "";
  $("keyform").onsubmit = (ev) => {
    ev.preventDefault();
    localStorage.setItem("bv_api_key", $("apikey").value.trim());
    start();
  };
  document.querySelectorAll("[data-range]").forEach((b) => b.onclick = () => {
    setLive(false);
    setRange(dataEnd() - RANGES[b.dataset.range], dataEnd(), b.dataset.range);
    draw();
  });
  $("apply").onclick = () => {
    const [a, b] = [Date.parse($("from").value), Date.parse($("to").value)];  // local wall time
    if (isNaN(a) || isNaN(b)) return showStatus("Set both 'from' and 'to'.", true);
    setLive(false);
    setRange(a, b);
    draw();
  };
  $("reset").onclick = () => { state.view = null; draw(); };
  let timer;
  $("search").oninput = () => { clearTimeout(timer); timer = setTimeout(search, 150); };
  $("site").onchange = () => {
    state.selected = [];
    renderSelected();
    setLive(false);
    setRange(dataEnd() - DAY, dataEnd(), "24h");
    heat.until = null;
    health.date = null;
    search();
    showScreen(state.screen);
  };
  $("csv").onclick = downloadCsv;
  window.addEventListener("resize", () => {
    state.plot?.setSize({ width: chartWidth(), height: 420 });
    if (state.screen === "heatmap") renderHeatmap();
  });
  wireViews();
  wireLive();
  wireHeatmap();
  wireHealth();
  start();
});
