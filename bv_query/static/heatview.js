// The heatmap screen: one point's hourly means (interval=1h&agg=avg, answered from the hourly
// rollups where they exist) over the last `days` UTC days up to `until`, and the hover readout.
// Hours are UTC: the page has no time-zone choice, and UTC hours are what the rollups hold.
"use strict";
const HEAT_MIN_DAYS = 7, HEAT_MAX_DAYS = 365, HEAT_DEFAULT_DAYS = 30;
// until: the last day shown (YYYY-MM-DD) when the URL or the user set one, else the newest day with data.
const heat = { days: HEAT_DEFAULT_DAYS, until: null, grid: null, scale: null, layout: null, point: null, seq: 0 };
const isDay = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !isNaN(Date.parse(text));

function heatFromUrl(params) {
  const days = parseInt(params.get("days") || "", 10);
  heat.days = Number.isFinite(days) ? Math.min(HEAT_MAX_DAYS, Math.max(HEAT_MIN_DAYS, days)) : HEAT_DEFAULT_DAYS;
  heat.until = isDay(params.get("until")) ? params.get("until") : null;
}

// The newest UTC day with archived or live data, not after today.
function heatLastDay() {
  if (heat.until) return heat.until;
  const today = new Date().toISOString().slice(0, 10);
  const info = state.sites.find((s) => s.name === site());
  const days = [info?.last_day, ...(info?.live_days || [])].filter((d) => d && d <= today).sort();
  return days.length ? days[days.length - 1] : today;
}

// Picking a point on the heatmap screen puts it first in the list (the one shown).
function heatPick(p) {
  const i = state.selected.findIndex((s) => s.name === p.name);
  if (i === 0) return;
  if (i > 0) state.selected.splice(i, 1);
  else if (state.selected.length >= MAX_SELECTED) state.selected.pop();
  state.selected.unshift(p);
  renderSelected();
  drawHeatmap();
}

function clearHeatmap() {
  heat.grid = heat.scale = heat.layout = null;
  const canvas = $("heat");
  canvas.width = canvas.height = 0;
  canvas.style.width = canvas.style.height = "0";
  delete canvas.dataset.rows;
  $("heat-legend").replaceChildren();
  $("heat-title").textContent = "";
  hideHeatTip();
}

async function drawHeatmap() {
  syncUrl();
  const seq = ++heat.seq;
  document.querySelectorAll("[data-days]").forEach((b) => b.classList.toggle("on", +b.dataset.days === heat.days));
  const lastDay = heatLastDay();
  $("heat-until").value = lastDay;
  const p = state.selected[0];
  if (!p) { clearHeatmap(); showStatus("Pick a point: the heatmap shows one point, day by hour."); return; }
  const end = Date.parse(lastDay + "T00:00:00Z") + DAY, start = end - heat.days * DAY;
  const q = new URLSearchParams({ site_name: site(), point: p.name, start_time: start, end_time: end,
    interval: "1h", agg: "avg", tz: "UTC", format: "json" });
  showStatus("Loading…");
  let body;
  try { body = await getJson("/timeseries/query?" + q); } catch (e) {
    if (seq === heat.seq) { clearHeatmap(); showStatus(e.message, true); }
    return;
  }
  if (seq !== heat.seq) return;
  heat.point = p;
  heat.grid = bvHeatGrid(body.samples, p.name, start, heat.days);
  heat.scale = bvHeatScale(heat.grid.values);
  renderHeatmap();
  const m = body.metadata, g = heat.grid;
  showStatus(`${p.display_name}: ${g.days} days to ${lastDay} (UTC) · ${g.filled} of ${g.days * 24} hours with data · ` +
    `hourly mean · source ${m.source} · ${m.query_time_ms} ms${g.filled ? "" : " · no data in this range"}`);
}

function renderHeatmap() {
  if (!heat.grid) return;
  const canvas = $("heat");
  heat.layout = bvHeatLayout(Math.max(420, $("heat-view").clientWidth || 900), heat.grid.days);
  bvHeatDraw(canvas, heat.grid, heat.scale, heat.layout);
  const { left, top, cellW, cellH } = heat.layout;
  Object.assign(canvas.dataset, { rows: heat.grid.days, cols: 24, filled: heat.grid.filled, start: bvDayIso(heat.grid.startMs),
    left, top, cellW, cellH });
  $("heat-title").textContent = `${heat.point.display_name} — hourly mean by day and hour (UTC)`;
  $("heat-title").title = heat.point.name;
  $("heat-legend").replaceChildren(bvHeatLegend(heat.scale, heat.point.unit));
  hideHeatTip();
}

function hideHeatTip() {
  $("heat-tip").hidden = true;
  $("heat-cursor").hidden = true;
}

function heatHover(ev) {
  if (!heat.grid || !heat.layout) return;
  const box = $("heat").getBoundingClientRect();
  const x = ev.clientX - box.left, y = ev.clientY - box.top;
  const cell = bvHeatCellAt(heat.layout, heat.grid, x, y);
  if (!cell) return hideHeatTip();
  const { left, top, cellW, cellH } = heat.layout;
  Object.assign($("heat-cursor").style, { left: left + cell.hour * cellW - 1 + "px", top: top + cell.day * cellH - 1 + "px",
    width: cellW - 1 + "px", height: Math.max(cellH, 2) + "px" });
  $("heat-cursor").hidden = false;
  const tip = $("heat-tip");
  const when = Object.assign(document.createElement("span"), {
    textContent: `${bvDayLabel(cell.dayMs)} · ${bvHourLabel(cell.hour)}–${bvHourLabel(cell.hour + 1)} UTC` });
  const value = Object.assign(document.createElement("b"), { className: "value",
    textContent: heat.scale ? bvHeatValue(heat.scale, cell.value, heat.point.unit) : "no data" });
  tip.replaceChildren(when, value);
  Object.assign(tip.dataset, { day: bvDayIso(cell.dayMs), hour: cell.hour, empty: String(cell.value == null) });
  tip.hidden = false;
  const flip = x + 14 + tip.offsetWidth > $("heat-wrap").clientWidth;
  tip.style.left = (flip ? x - 14 - tip.offsetWidth : x + 14) + "px";
  tip.style.top = y + 14 + "px";
}

function wireHeatmap() {
  document.querySelectorAll("[data-days]").forEach((b) => b.onclick = () => {
    heat.days = +b.dataset.days;
    drawHeatmap();
  });
  $("heat-until").onchange = () => {
    heat.until = isDay($("heat-until").value) ? $("heat-until").value : null;
    drawHeatmap();
  };
  $("heat").addEventListener("mousemove", heatHover);
  $("heat").addEventListener("mouseleave", hideHeatTip);
}
