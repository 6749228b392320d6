// The health screen: a site's points on one day grouped dead / degraded / ok, each with the
// reason, from GET /sites/{site}/health?date=YYYY-MM-DD ->
//   {site, date, summary: {ok, degraded, dead}, points: [{point, display_name, unit, status,
//    reason, samples, expected, longest_gap_s, stale, flatline, out_of_range, spikes}]}
// (404 {"error"} when that day has no health data). Without a chosen date the page asks
// without one: the server answers its newest day. A point opens its chart for that day.
"use strict";
const HEALTH_ORDER = ["dead", "degraded", "ok"];
const HEALTH_TITLES = { dead: "Dead", degraded: "Degraded", ok: "OK" };
// date: the day chosen (URL or date input), null = the newest the server has; shown: the day on screen.
const health = { date: null, shown: null, seq: 0 };

function healthFromUrl(params) {
  health.date = isDay(params.get("date")) ? params.get("date") : null;
}

async function loadHealth() {
  const date = health.date;
  $("health-date").value = date || "";
  syncUrl();
  const seq = ++health.seq;
  health.shown = null;
  $("health-summary").replaceChildren();
  $("health-groups").replaceChildren();
  showStatus("Loading health…");
  let body;
  try {
    body = await getJson(`/sites/${encodeURIComponent(site())}/health` + (date ? `?date=${encodeURIComponent(date)}` : ""));
  } catch (e) {
    if (seq !== health.seq) return;
    const missing = e.status === 404, when = date ? `on ${date}` : "yet";
    const headline = missing ? `No health data for ${site()} ${when}.` : `The health of ${site()} ${date ? "on " + date + " " : ""}could not be loaded.`;
    const advice = missing ? "Point health is computed per archived day: pick another date." : "Try again later; the server said why below.";
    healthNotice(headline, advice, e.message, missing ? "missing" : "error");
    showStatus(`${headline} (${e.message})`, true);
    return;
  }
  if (seq !== health.seq) return;
  health.shown = isDay(body.date) ? body.date : date || new Date().toISOString().slice(0, 10);
  $("health-date").value = health.shown;
  renderHealth(body, health.shown);
}

function healthNotice(headline, advice, detail, kind) {
  const box = Object.assign(document.createElement("div"), { className: "notice " + kind });
  box.dataset.kind = kind;
  box.append(Object.assign(document.createElement("strong"), { textContent: headline }), " " + advice,
    Object.assign(document.createElement("small"), { textContent: "server: " + detail }));
  $("health-groups").replaceChildren(box);
}

function renderHealth(body, date) {
  const points = Array.isArray(body.points) ? body.points : [];
  const counts = body.summary || {};
  $("health-summary").replaceChildren(...HEALTH_ORDER.map((s) => {
    const chip = Object.assign(document.createElement("span"), { className: "chip " + s });
    chip.dataset.status = s;
    chip.textContent = `${counts[s] ?? points.filter((p) => p.status === s).length} ${HEALTH_TITLES[s].toLowerCase()}`;
    return chip;
  }));
  const groups = HEALTH_ORDER.map((status) => {
    // Problems keep the server's order (worst first); healthy points are listed by name.
    const members = points.filter((p) => p.status === status);
    if (status === "ok") members.sort((a, b) => (a.display_name || a.point).localeCompare(b.display_name || b.point));
    if (!members.length) return null;
    const group = Object.assign(document.createElement("details"), { className: "health-group", open: true });
    group.dataset.status = status;
    const summary = document.createElement("summary");
    summary.textContent = `${HEALTH_TITLES[status]} (${members.length})`;
    const list = document.createElement("ul");
    list.append(...members.map((p) => healthItem(p, date)));
    group.append(summary, list);
    return group;
  }).filter(Boolean);
  const unknown = points.filter((p) => !HEALTH_ORDER.includes(p.status)).length;
  $("health-groups").replaceChildren(...groups);
  if (!points.length) healthNotice(`No points in the health data of ${site()} on ${date}.`, "", "empty list", "missing");
  showStatus(`Health of ${site()} on ${date} (UTC day): ${points.length} points` +
    (unknown ? ` · ${unknown} with an unknown status not shown` : "") + " · click a point to chart that day");
}

function dayWindow(date) {
  const start = Date.parse(date + "T00:00:00Z");
  return [start, start + DAY];
}

function chartLink(p, date) {
  const [start, end] = dayWindow(date);
  return "?" + new URLSearchParams({ site: site(), start, end, point: p.point });
}

function heatLink(p, date) {
  return "?" + new URLSearchParams({ view: "heatmap", site: site(), point: p.point, days: 30, until: date });
}

function fmtGap(seconds) {
  if (seconds == null) return "?";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function healthItem(p, date) {
  const li = document.createElement("li");
  li.dataset.point = p.point;
  li.dataset.status = p.status;
  const open = Object.assign(document.createElement("a"), { className: "open", href: chartLink(p, date), title: `chart ${p.point} on ${date}` });
  open.append(Object.assign(document.createElement("b"), { textContent: p.display_name || p.point }),
    Object.assign(document.createElement("small"), { className: "unit", textContent: p.unit ? ` ${p.unit}` : "" }));
  const reason = Object.assign(document.createElement("span"), { className: "reason", textContent: p.reason || (p.status === "ok" ? "no findings" : p.status) });
  const facts = [`${p.samples ?? "?"}${p.expected != null ? " of " + p.expected : ""} samples`, `longest gap ${fmtGap(p.longest_gap_s)}`];
  if (p.stale) facts.push("stale");
  if (p.flatline) facts.push("flatline");
  if (p.out_of_range) facts.push(`${p.out_of_range} out of range`);
  if (p.spikes) facts.push(`${p.spikes} spikes`);
  const detail = Object.assign(document.createElement("small"), { className: "facts", textContent: `${facts.join(" · ")} · ${p.point}` });
  const heatmap = Object.assign(document.createElement("a"), { className: "heat", href: heatLink(p, date), textContent: "heatmap" });
  li.append(open, reason, heatmap, detail);
  // In-page navigation for plain clicks; the hrefs keep middle-click and "copy link" working.
  open.onclick = (ev) => { if (!plainClick(ev)) return; ev.preventDefault(); openFromHealth(p, date, "chart"); };
  heatmap.onclick = (ev) => { if (!plainClick(ev)) return; ev.preventDefault(); openFromHealth(p, date, "heatmap"); };
  li.onclick = (ev) => { if (ev.target === li || ev.target.closest(".reason, .facts")) openFromHealth(p, date, "chart"); };
  return li;
}

const plainClick = (ev) => ev.button === 0 && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey && !ev.altKey;

function openFromHealth(p, date, screen) {
  state.selected = [{ name: p.point, display_name: p.display_name || p.point, unit: p.unit ?? null }];
  renderSelected();
  setLive(false);
  setRange(...dayWindow(date));
  if (screen === "heatmap") { heat.until = date; heat.days = HEAT_DEFAULT_DAYS; }
  showScreen(screen, true);
}

function wireHealth() {
  $("health-date").onchange = () => {
    if (!isDay($("health-date").value)) return;
    health.date = $("health-date").value;
    loadHealth();
  };
}
