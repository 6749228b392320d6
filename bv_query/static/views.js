// Which screen shows (Chart / Heatmap / Health) and the URL that links to it. Every screen
// is a link: the address bar is rewritten on each draw, and a switch of screen is a new
// history entry (back returns to the previous screen).
//   chart:   ?site=S&start=T&end=T&point=P…          or  ?site=S&live=1[&refresh=SECONDS]&point=P…
//   heatmap: ?view=heatmap&site=S&point=P…&days=N[&until=YYYY-MM-DD]   (the first point is shown)
//   health:  ?view=health&site=S[&date=YYYY-MM-DD]
"use strict";
const SCREENS = ["chart", "heatmap", "health"];
const SELECTED_TITLES = {
  chart: "On the chart <small class=\"hint\">(click to remove)</small>",
  heatmap: "Picked <small class=\"hint\">(the heatmap shows the first; click one to show it)</small>",
};

function urlFor() {
  const q = new URLSearchParams();
  if (state.screen !== "chart") q.set("view", state.screen);
  q.set("site", site());
  if (state.screen === "health") {
    if (health.date) q.set("date", health.date);  // none: the newest day with health data
    return "?" + q;
  }
  if (state.screen === "chart") {
    if (state.live) {
      q.set("live", "1");
      if (live.custom) q.set("refresh", String(live.custom));
    } else if (state.range) {
      q.set("start", Math.floor(state.range.start));
      q.set("end", Math.ceil(state.range.end));
    }
  }
  state.selected.forEach((p) => q.append("point", p.name));
  if (state.screen === "heatmap") {
    q.set("days", String(heat.days));
    if (heat.until) q.set("until", heat.until);
  }
  return "?" + q;
}

function syncUrl() {
  history.replaceState(null, "", urlFor());
}

// Shows one screen and draws it; push: a new history entry (a click, not a page load).
async function showScreen(name, push = false) {
  setScreen(name);
  if (push) history.pushState(null, "", urlFor());
  liveSync();
  if (state.screen === "heatmap") return drawHeatmap();
  if (state.screen === "health") return loadHealth();
  return draw();
}

// Only which screen is visible (no drawing).
function setScreen(name) {
  state.screen = SCREENS.includes(name) ? name : "chart";
  document.body.dataset.screen = state.screen;
  $("chart-view").hidden = state.screen !== "chart";
  $("heat-view").hidden = state.screen !== "heatmap";
  $("health-view").hidden = state.screen !== "health";
  document.querySelectorAll("[data-view]").forEach((b) => b.classList.toggle("on", b.dataset.view === state.screen));
  if (SELECTED_TITLES[state.screen]) $("selected-title").innerHTML = SELECTED_TITLES[state.screen];
}

function wireViews() {
  document.querySelectorAll("[data-view]").forEach((b) => b.onclick = () => {
    if (b.dataset.view !== state.screen) showScreen(b.dataset.view, true);
  });
  // Back/forward: the screen of that entry at once, then everything from its URL.
  window.addEventListener("popstate", () => {
    setScreen(new URLSearchParams(location.search).get("view") || "chart");
    start();
  });
}
