// API samples -> uPlot data and options. Pure functions: no DOM, no page state.
"use strict";
const BV_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const BV_MIN_SILENCE_MS = 10 * 60e3;

// One column per point on the union of all timestamps. A null from the API is a gap and
// breaks the line (spanGaps: false). Where a point merely has no sample at another point's
// timestamp the cell stays undefined, which uPlot steps over: raw samples of two points
// rarely share timestamps, and nulls there would shred both lines.
function bvColumns(points, samples, raw) {
  const byPoint = new Map(points.map((p) => [p.name, []]));
  for (const s of samples) byPoint.get(s.point_name)?.push(s);
  if (raw) byPoint.forEach(breakLongSilences);
  const times = [...new Set([...byPoint.values()].flat().map((s) => s.timestamp))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = points.map((p) => {
    const column = new Array(times.length).fill(undefined);
    for (const s of byPoint.get(p.name)) column[index.get(s.timestamp)] = s.value;
    return column;
  });
  return [times.map((t) => t / 1000), ...columns];
}

// Raw samples carry no nulls: a silence far longer than the point's usual step (an outage, a
// day not archived) gets a null just after its last sample, so the line breaks instead of
// bridging the hole with a straight segment.
function breakLongSilences(list) {
  list.sort((a, b) => a.timestamp - b.timestamp);
  if (list.length < 3) return;
  const steps = list.slice(1).map((s, i) => s.timestamp - list[i].timestamp).sort((a, b) => a - b);
  const limit = Math.max(5 * steps[steps.length >> 1], BV_MIN_SILENCE_MS);
  for (let i = list.length - 1; i > 0; i--) {
    if (list[i].timestamp - list[i - 1].timestamp > limit) {
      list.splice(i, 0, { point_name: list[i].point_name, timestamp: list[i - 1].timestamp + 1, value: null });
    }
  }
}

const bvUnit = (p) => p.unit || "(no unit)";

// One y axis per unit, at most two: the first unit on the left, any others share the right.
function bvOptions(points, win, width, onZoom) {
  const units = [...new Set(points.map(bvUnit))];
  const scaleOf = (p) => (bvUnit(p) === units[0] ? "y0" : "y1");
  const axes = [{}, { scale: "y0", label: units[0] }];
  if (units.length > 1) axes.push({ scale: "y1", side: 1, label: units.slice(1).join(" · "), grid: { show: false } });
  return {
    width, height: 420,
    // The x axis shows the whole requested window, so missing data at either end is visible.
    scales: { x: { time: true, range: () => [win.start / 1000, win.end / 1000] } },
    series: [{}, ...points.map((p, i) => ({
      label: p.display_name, stroke: BV_COLORS[i % BV_COLORS.length], width: 1.5, spanGaps: false, scale: scaleOf(p),
      value: (u, v) => (v == null ? "--" : `${+v.toFixed(2)} ${p.unit || ""}`),
    }))],
    axes,
    cursor: { drag: { x: true, y: false, setScale: false } },  // we re-query instead of rescaling
    hooks: { setSelect: [(u) => {
      if (u.select.width < 5) return;
      onZoom(u.posToVal(u.select.left, "x") * 1000, u.posToVal(u.select.left + u.select.width, "x") * 1000);
    }] },
  };
}
