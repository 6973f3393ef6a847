// Hand-written SVG charts for the Commerce pages: monthly bars, stacked when a chart has several
// series (negative values stack downward), the partial current month drawn faded with a dashed
// outline. No library: a few dozen lines do what the pages need, and nothing is fetched.
import { el, svgEl } from "./commerce.js";

const WIDTH = 640;
const HEIGHT = 240;
const MARGIN = { top: 12, right: 12, bottom: 36, left: 64 };

/** Round numbers for an axis: about `count` ticks covering [low, high]. */
function ticks(low, high, count = 5) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count) || 10 * magnitude;
  const first = Math.floor(low / step) * step;
  const values = [Number(first.toFixed(10))];
  while (values.length < 2 || values[values.length - 1] < high - step * 1e-9) {
    values.push(Number((values[values.length - 1] + step).toFixed(10)));
  }
  return values;
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

/** A chart of one value per month.
 *  months: ["2026-01-01", …] ascending; partial: [bool] per month;
 *  series: [{ name, values: [number], tone }] (tone 1–6: a colour of commerce.css; several series
 *  are stacked, a negative value stacks down);
 *  format: number → text (tooltips). Returns a <figure> holding the <svg> and its legend. */
export function monthlyBarChart({ title, months, partial, series, format, id }) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const ups = months.map((_, i) => series.reduce((sum, s) => sum + Math.max(0, s.values[i] || 0), 0));
  const downs = months.map((_, i) => series.reduce((sum, s) => sum + Math.min(0, s.values[i] || 0), 0));
  const axis = ticks(Math.min(0, ...downs), Math.max(0, ...ups));
  const low = axis[0];
  const high = axis[axis.length - 1];
  const y = (value) => MARGIN.top + plotHeight * (1 - (value - low) / (high - low || 1));
  const slot = plotWidth / Math.max(months.length, 1);
  const barWidth = Math.max(2, Math.min(36, slot * 0.7));

  const svg = svgEl("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, "data-chart": id });
  for (const value of axis) {
    svg.append(svgEl("line", { class: "cc-axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value) }));
    svg.append(svgEl("text", { x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end" }, compact.format(value)));
  }
  const labelEvery = Math.ceil(months.length / 8); // a label is about 48 units wide
  months.forEach((month, i) => {
    const x = MARGIN.left + slot * i + (slot - barWidth) / 2;
    let up = 0;
    let down = 0;
    for (const s of series) {
      const value = s.values[i] || 0;
      if (value === 0) continue;
      const from = value > 0 ? up : down;
      const to = from + value;
      if (value > 0) up = to; else down = to;
      const top = y(Math.max(from, to));
      const bar = svgEl("rect", {
        x, y: top, width: barWidth, height: Math.max(1, Math.abs(y(from) - y(to))),
        class: `cc-bar cc-tone-${s.tone}${partial[i] ? " cc-partial" : ""}`, "data-month": month, "data-series": s.name, "data-value": value,
        "stroke-dasharray": partial[i] ? "3 2" : null,
      }, svgEl("title", {}, `${month.slice(0, 7)}${partial[i] ? " (month to date)" : ""} · ${s.name}: ${format(value)}`));
      svg.append(bar);
    }
    if ((months.length - 1 - i) % labelEvery === 0) { // counted from the newest month, always labelled
      svg.append(svgEl("text", { x: x + barWidth / 2, y: HEIGHT - MARGIN.bottom + 14, "text-anchor": "middle" }, month.slice(0, 7)));
    }
    if (partial[i]) {
      svg.append(svgEl("text", { x: x + barWidth / 2, y: HEIGHT - MARGIN.bottom + 28, "text-anchor": "middle",
        class: "cc-partial-label" }, "to date"));
    }
  });
  svg.append(svgEl("line", { class: "cc-axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0),
    "stroke-width": 1.5 }));
  if (ups.every((v) => v === 0) && downs.every((v) => v === 0)) {
    svg.append(svgEl("text", { x: MARGIN.left + plotWidth / 2, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle",
      class: "cc-empty" }, "nothing in these months"));
  }

  const legend = el("div", { className: "cc-legend" },
    series.map((s) => el("span", {}, el("span", { className: `cc-swatch cc-tone-${s.tone}` }), s.name)),
    partial.some(Boolean) && el("span", {}, el("span", { className: "cc-swatch cc-partial" }), "current month, to date (partial)"));
  return el("figure", { className: "cc-chart" }, el("h3", {}, title), svg, legend);
}
