// Heatmap of one point: a row per UTC day, a column per UTC hour, each cell the hour's mean.
// Grid, colour scale, layout and canvas drawing; no page state, no requests.
"use strict";
const BV_HOUR_MS = 36e5;
const BV_DAY_MS = 864e5;
// viridis, sampled: dark = low, yellow = high; readable in grey and for most colour blindness.
const BV_HEAT_STOPS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const BV_WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

// Hourly buckets of one point -> values[day * 24 + hour] (null = no data), day 0 = startMs's UTC day.
function bvHeatGrid(samples, point, startMs, days) {
  const values = new Array(days * 24).fill(null);
  for (const s of samples) {
    if (s.point_name !== point || s.value == null) continue;
    const i = Math.floor((s.timestamp - startMs) / BV_HOUR_MS);
    if (i >= 0 && i < values.length) values[i] = s.value;
  }
  return { startMs, days, values, filled: values.filter((v) => v != null).length };
}

// The colour domain: the 1st..99th percentile once there are enough hours, so one spike does
// not wash out the rest (cells beyond it take the end colours; the legend says ≤ / ≥).
function bvHeatScale(values) {
  const v = values.filter((x) => x != null).sort((a, b) => a - b);
  if (!v.length) return null;
  const at = (q) => v[Math.round(q * (v.length - 1))];
  let [lo, hi] = v.length >= 200 ? [at(0.01), at(0.99)] : [v[0], v[v.length - 1]];
  const clipLo = lo > v[0], clipHi = hi < v[v.length - 1];
  if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
  const span = v[v.length - 1] - v[0] || Math.abs(v[0]) || 1;
  const decimals = Math.min(4, Math.max(0, 2 - Math.floor(Math.log10(span))));
  return { lo, hi, clipLo, clipHi, decimals };
}

function bvHeatColor(scale, value) {
  const t = Math.min(1, Math.max(0, (value - scale.lo) / (scale.hi - scale.lo)));
  const x = t * (BV_HEAT_STOPS.length - 1), i = Math.min(BV_HEAT_STOPS.length - 2, Math.floor(x)), f = x - i;
  const [a, b] = [BV_HEAT_STOPS[i], BV_HEAT_STOPS[i + 1]].map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  return `rgb(${a.map((ch, k) => Math.round(ch + (b[k] - ch) * f)).join(",")})`;
}

const bvHeatValue = (scale, v, unit) => (v == null ? "no data" : `${v.toFixed(scale.decimals)}${unit ? " " + unit : ""}`);
const bvDayIso = (ms) => new Date(ms).toISOString().slice(0, 10);
const bvDayLabel = (ms) => `${BV_WEEKDAYS[new Date(ms).getUTCDay()]} ${bvDayIso(ms)}`;
const bvHourLabel = (h) => String(h).padStart(2, "0") + ":00";

// Cell sizes for a canvas `width` CSS pixels wide: tall rows for a week, 2 px rows for a year.
function bvHeatLayout(width, days) {
  const left = 112, top = 22;
  const cellW = Math.max(8, Math.floor((width - left - 8) / 24));
  const cellH = Math.max(2, Math.min(26, Math.floor(600 / days)));
  return { left, top, cellW, cellH, width: left + 24 * cellW + 8, height: top + days * cellH + 4 };
}

// The cell under a point of the canvas (CSS pixels from its top left), or null.
function bvHeatCellAt(layout, grid, x, y) {
  const hour = Math.floor((x - layout.left) / layout.cellW), day = Math.floor((y - layout.top) / layout.cellH);
  if (x < layout.left || y < layout.top || hour < 0 || hour > 23 || day < 0 || day >= grid.days) return null;
  return { day, hour, dayMs: grid.startMs + day * BV_DAY_MS, value: grid.values[day * 24 + hour] };
}

function bvNoDataPattern(ctx) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 6;
  const t = tile.getContext("2d");
  t.fillStyle = "#f2f2f2";
  t.fillRect(0, 0, 6, 6);
  t.strokeStyle = "#c4c4c4";
  t.beginPath();
  t.moveTo(0, 6); t.lineTo(6, 0);
  t.stroke();
  return ctx.createPattern(tile, "repeat");
}

function bvHeatDraw(canvas, grid, scale, layout) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(layout.width * dpr);
  canvas.height = Math.round(layout.height * dpr);
  canvas.style.width = layout.width + "px";
  canvas.style.height = layout.height + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, layout.width, layout.height);
  const { left, top, cellW, cellH } = layout;
  const gap = cellH >= 8 ? 1 : 0;
  const noData = bvNoDataPattern(ctx);
  for (let d = 0; d < grid.days; d++) {
    for (let h = 0; h < 24; h++) {
      const v = grid.values[d * 24 + h];
      ctx.fillStyle = v == null || !scale ? noData : bvHeatColor(scale, v);
      ctx.fillRect(left + h * cellW, top + d * cellH, cellW - 1, cellH - gap);
    }
  }
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#444";
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  const hourStep = cellW >= 24 ? 1 : cellW >= 12 ? 2 : 3;
  for (let h = 0; h < 24; h += hourStep) ctx.fillText(String(h).padStart(2, "0"), left + (h + 0.5) * cellW, top / 2);
  // Day labels: every row when they fit, else the 1st of each month (a line marks it) or every week.
  ctx.textAlign = "right";
  const every = Math.ceil(13 / cellH);
  for (let d = 0; d < grid.days; d++) {
    const day = new Date(grid.startMs + d * BV_DAY_MS);
    const monthStart = day.getUTCDate() === 1;
    if (every > 1 && monthStart && d > 0) {
      ctx.fillStyle = "#222";
      ctx.fillRect(left - 4, top + d * cellH - 0.5, 24 * cellW + 4, 1);
    }
    const labelled = every === 1 || (every >= 7 ? monthStart || d === 0 : d % every === 0);
    if (!labelled) continue;
    const weekend = day.getUTCDay() % 6 === 0;
    ctx.fillStyle = weekend ? "#a0522d" : "#444";
    ctx.fillText(bvDayLabel(day.getTime()), left - 6, top + d * cellH + Math.max(cellH, 8) / 2);
  }
}

// The legend: colour bar with the domain's ends in the point's unit, and the no-data swatch.
function bvHeatLegend(scale, unit) {
  const el = document.createElement("div");
  el.className = "legend";
  const name = unit || "(no unit)";
  const title = Object.assign(document.createElement("span"), { className: "legend-title", textContent: `hourly mean, ${name}` });
  el.append(title);
  if (scale) {
    const fmt = (v) => v.toFixed(scale.decimals);
    const lo = Object.assign(document.createElement("span"), { textContent: `${scale.clipLo ? "≤ " : ""}${fmt(scale.lo)} ${name}` });
    const bar = Object.assign(document.createElement("span"), { className: "legend-bar" });
    bar.style.background = `linear-gradient(to right, ${BV_HEAT_STOPS.join(", ")})`;
    const hi = Object.assign(document.createElement("span"), { textContent: `${scale.clipHi ? "≥ " : ""}${fmt(scale.hi)} ${name}` });
    el.append(lo, bar, hi);
  }
  const none = Object.assign(document.createElement("span"), { className: "legend-none" });
  none.append(Object.assign(document.createElement("i"), { className: "no-data-swatch" }), "no data");
  el.append(none);
  return el;
}
