// Live mode of the chart: today's range (local midnight to midnight), re-queried every
// minute (URL `refresh=SECONDS` changes the period), and the age of the newest sample,
// updated every second. The server answers today from the live store, so each refresh shows
// what the last sync brought. Zooming or picking another range leaves live mode.
"use strict";
const LIVE_DEFAULT_S = 60;
const live = { timer: null, ageTimer: null, period: LIVE_DEFAULT_S, custom: null, newest: null, seq: 0 };

function liveFromUrl(params) {
  const refresh = parseFloat(params.get("refresh") || "");
  live.custom = Number.isFinite(refresh) && refresh >= 1 ? refresh : null;
  live.period = live.custom || LIVE_DEFAULT_S;
  setLive(params.get("live") === "1", false);
}

function todayRange() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const next = new Date(midnight);
  next.setDate(next.getDate() + 1);  // 23 or 25 hours on a DST day
  return [midnight.getTime(), next.getTime()];
}

const liveLabel = () => `live, every ${live.period >= 60 && live.period % 60 === 0 ? live.period / 60 + " min" : live.period + " s"}`;

// on: show today and start the timers (when the chart shows); draw: draw now.
function setLive(on, drawNow = false) {
  state.live = on;
  live.newest = null;
  if (on) setRange(...todayRange());
  liveSync();
  if (drawNow) draw();
}

// Timers run only while live mode is on and the chart is the screen shown.
function liveSync() {
  const run = state.live && state.screen === "chart";
  if (run && !live.timer) {
    live.timer = setInterval(liveTick, live.period * 1000);
    live.ageTimer = setInterval(showAge, 1000);
  } else if (!run && live.timer) {
    clearInterval(live.timer);
    clearInterval(live.ageTimer);
    live.timer = live.ageTimer = null;
  }
  $("live").classList.toggle("on", state.live);
  $("live").title = `today, refreshed every ${live.period} s`;
  $("age").hidden = !state.live;
  showAge();
}

function liveTick() {
  if (document.hidden) return;  // a background tab does not poll; the next visible tick catches up
  const [start, end] = todayRange();
  if (state.range?.start !== start) setRange(start, end);  // past midnight: the new day
  draw(true);
}

// The newest sample of the charted points: raw samples of today, M4-reduced by the server to
// first/last/min/max per point (max_points=4), so the answer stays tiny however dense the day.
async function refreshNewest() {
  if (!state.live || !state.selected.length) return;
  const seq = ++live.seq;
  const q = new URLSearchParams({ site_name: site(), start_time: Math.floor(state.range.start),
    end_time: Math.ceil(state.range.end), interval: "raw", max_points: "4", format: "json" });
  state.selected.forEach((p) => q.append("point", p.name));
  try {
    const body = await getJson("/timeseries/query?" + q);
    if (seq !== live.seq) return;
    const times = body.samples.filter((s) => s.value != null).map((s) => s.timestamp);
    live.newest = times.length ? Math.max(...times) : null;
    showAge();
  } catch (e) {
    if (seq === live.seq) showStatus("newest sample: " + e.message, true);
  }
}

function fmtAge(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 120 * 60) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} days`;
}

function showAge() {
  const el = $("age");
  if (!state.live) { el.textContent = ""; return; }
  if (!state.selected.length) { el.textContent = "pick a point"; delete el.dataset.newest; return; }
  if (live.newest == null) { el.textContent = "no sample today yet"; delete el.dataset.newest; return; }
  const seconds = Math.max(0, Math.round((Date.now() - live.newest) / 1000));
  el.textContent = `newest sample ${fmtAge(seconds)} ago`;
  el.title = new Date(live.newest).toLocaleString();
  el.dataset.newest = String(live.newest);
  el.classList.toggle("stale", seconds > 15 * 60);
}

function wireLive() {
  $("live").onclick = () => setLive(!state.live, true);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.live && state.screen === "chart") liveTick();
  });
}
