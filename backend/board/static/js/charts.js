// Small SVG charts drawn from the figures, no library: horizontal bars and stacked shares.
// Every bar carries its number as text, so nothing is read from colour or length alone.

import { h, s } from "./dom.js";

const WIDTH = 640;
const LABEL_WIDTH = 230;
const ROW = 46;
const BAR = 30;
const VALUE_ROOM = 90;

/**
 * Bars, one per row: rows [{label, value, text?, cls?}]. `text` is what is printed (defaults to
 * the value). Returns a figure with a caption; the SVG is an image with a spoken summary.
 */
export function barChart({ title, rows }) {
  const max = Math.max(1, ...rows.map((r) => r.value || 0));
  const span = WIDTH - LABEL_WIDTH - VALUE_ROOM;
  const height = rows.length * ROW + 8;
  const summary = rows.map((r) => `${r.label}: ${r.text ?? r.value}`).join("; ");
  const svg = s(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${height}`, class: "chart", role: "img", "aria-label": `${title}. ${summary}` },
    rows.map((row, i) => {
      const y = i * ROW + 4;
      const width = Math.max(row.value > 0 ? 3 : 0, (span * (row.value || 0)) / max);
      return [
        s("text", { x: LABEL_WIDTH - 12, y: y + BAR / 2, class: "chart-label", "text-anchor": "end", "dominant-baseline": "central" }, row.label),
        s("rect", { x: LABEL_WIDTH, y, width, height: BAR, rx: 3, class: `bar ${row.cls || ""}` }),
        s("text", { x: LABEL_WIDTH + width + 10, y: y + BAR / 2, class: "chart-value", "dominant-baseline": "central" }, row.text ?? String(row.value)),
      ];
    }),
  );
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, title), svg);
}

/**
 * One 100 % bar per row, split into segments: rows [{label, segments: [{key, label, value}]}].
 * `target` (0-1) draws a marked line (e.g. the 90 % aim). The legend names each segment with
 * its number; segments wide enough also carry it inside.
 */
export function shareChart({ title, rows, target = null, targetLabel = "" }) {
  const span = WIDTH - LABEL_WIDTH - 20;
  const legendKeys = new Map();
  const height = rows.length * ROW + (target === null ? 8 : 34);
  const top = target === null ? 4 : 30;
  const bars = rows.map((row, i) => {
    const total = row.segments.reduce((sum, seg) => sum + seg.value, 0);
    const y = top + i * ROW;
    let x = LABEL_WIDTH;
    const parts = [
      s("text", { x: LABEL_WIDTH - 12, y: y + BAR / 2, class: "chart-label", "text-anchor": "end", "dominant-baseline": "central" }, row.label),
    ];
    if (!total) parts.push(s("rect", { x, y, width: span, height: BAR, class: "bar seg-empty" }));
    for (const seg of row.segments) {
      legendKeys.set(seg.key, seg.label);
      if (!total || !seg.value) continue;
      const width = (span * seg.value) / total;
      parts.push(s("rect", { x, y, width, height: BAR, class: `bar seg-${seg.key}` }));
      if (width > 34) {
        parts.push(
          s("text", { x: x + width / 2, y: y + BAR / 2, class: "seg-value", "text-anchor": "middle", "dominant-baseline": "central" }, String(seg.value)),
        );
      }
      x += width;
    }
    return parts;
  });
  if (target !== null) {
    const x = LABEL_WIDTH + span * target;
    bars.push(
      s("line", { x1: x, x2: x, y1: 18, y2: height - 2, class: "target-line" }),
      s("text", { x, y: 12, class: "chart-value", "text-anchor": "middle" }, targetLabel),
    );
  }
  const summary = rows
    .map((r) => `${r.label}: ${r.segments.map((seg) => `${seg.label} ${seg.value}`).join(", ")}`)
    .join("; ");
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "chart", role: "img", "aria-label": `${title}. ${summary}` }, bars);
  const legend = h(
    "ul",
    { class: "legend" },
    [...legendKeys].map(([key, label]) => {
      const values = rows.map((r) => r.segments.find((seg) => seg.key === key)?.value ?? 0);
      return h(
        "li",
        {},
        h("span", { class: `swatch seg-${key}`, "aria-hidden": "true" }),
        `${label}: ${values.join(" / ")}`,
      );
    }),
  );
  return h("figure", { class: "chart-figure" }, h("figcaption", {}, title), svg, legend);
}

/** A headline figure: a big number and what it is. */
export function keyFigure(value, label, cls = "") {
  return h("div", { class: `kpi ${cls}` }, h("span", { class: "kpi-value" }, value), h("span", { class: "kpi-label" }, label));
}
