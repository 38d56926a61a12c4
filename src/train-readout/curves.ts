// Training curves as SVG line charts (and PNG through @resvg/resvg-js): the loss per step (thin,
// with a moving average on top) and each validation metric per step, one colour per learning
// rate. Written atomically.
import { Resvg } from '@resvg/resvg-js';
import { writeBytesAtomic } from '../util/atomic.js';
import type { MetricRecord } from './checkpoint.js';

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** Draw a moving average (window `smooth` points) over a faint raw line. */
  smooth?: number;
  /** Draw markers at each point (sparse series such as validation metrics). */
  markers?: boolean;
}

export interface LinePanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logY?: boolean;
}

/** Colours for runs 0, 1, 2, … */
export const RUN_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Tick values for [lo, hi] (about `n` of them, at 1-2-5 steps). */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) {
    return [lo];
  }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** Ticks of a log axis over [10^lo, 10^hi]: the decades, with 2 and 5 when there are few. */
function logTicks(lo: number, hi: number): number[] {
  const decades: number[] = [];
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    decades.push(e);
  }
  const inRange = (v: number): boolean => Math.log10(v) >= lo && Math.log10(v) <= hi;
  const ones = decades.map((e) => 10 ** e).filter(inRange);
  if (ones.length >= 3) {
    return ones;
  }
  return decades.flatMap((e) => [1, 2, 5].map((m) => Number((m * 10 ** e).toPrecision(6)))).filter(inRange);
}

const label = (v: number): string =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));

/** Moving average over `w` points (centred on the trailing window). */
export function movingAverage(ys: readonly number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  const q: number[] = [];
  for (const y of ys) {
    q.push(y);
    s += y;
    if (q.length > w) {
      s -= q.shift()!;
    }
    out.push(s / q.length);
  }
  return out;
}

/** One panel at (x, y) of size (w, h), as SVG elements. */
export function linePanel(p: LinePanel, x: number, y: number, w: number, h: number): string[] {
  const [left, right, top, bottom] = [62, 14, 28, 44];
  const pw = w - left - right;
  const ph = h - top - bottom;
  const all = p.series.flatMap((s) => s.points).filter(([, v]) => Number.isFinite(v) && (!p.logY || v > 0));
  const out: string[] = [
    `<text x="${x + w / 2}" y="${y + 17}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`,
  ];
  if (all.length === 0) {
    out.push(`<text x="${x + w / 2}" y="${y + h / 2}" text-anchor="middle" font-size="11">no data</text>`);
    return out;
  }
  const xs = all.map(([a]) => a);
  const tf = (v: number): number => (p.logY ? Math.log10(v) : v);
  const ys = all.map(([, b]) => tf(b));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (y1 - y0 < 1e-12) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  const X = (v: number): number => x + left + ((v - x0) / (x1 - x0)) * pw;
  const Y = (v: number): number => y + top + ph - ((tf(v) - y0) / (y1 - y0)) * ph;
  const yTicks = p.logY ? logTicks(y0, y1) : ticks(y0, y1);
  for (const v of yTicks) {
    const t = Y(v).toFixed(1);
    out.push(
      `<line x1="${x + left}" y1="${t}" x2="${x + left + pw}" y2="${t}" stroke="#e6e6e6"/>`,
      `<text x="${x + left - 6}" y="${(Number(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${label(v)}</text>`,
    );
  }
  for (const v of ticks(x0, x1)) {
    const t = X(v).toFixed(1);
    out.push(
      `<line x1="${t}" y1="${y + top + ph}" x2="${t}" y2="${y + top + ph + 4}" stroke="#000"/>`,
      `<text x="${t}" y="${y + top + ph + 16}" text-anchor="middle" font-size="10">${label(v)}</text>`,
    );
  }
  out.push(
    `<rect x="${x + left}" y="${y + top}" width="${pw}" height="${ph}" fill="none" stroke="#000"/>`,
    `<text x="${x + left + pw / 2}" y="${y + h - 8}" text-anchor="middle" font-size="11">${esc(p.xLabel)}</text>`,
    `<text transform="translate(${x + 14} ${y + top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.yLabel)}${p.logY ? ' (log)' : ''}</text>`,
  );
  const path = (pts: readonly (readonly [number, number])[]): string =>
    pts
      .filter(([, v]) => Number.isFinite(v) && (!p.logY || v > 0))
      .map(([a, b], i) => `${i === 0 ? 'M' : 'L'}${X(a).toFixed(1)},${Y(b).toFixed(1)}`)
      .join(' ');
  p.series.forEach((s, si) => {
    if (s.smooth && s.points.length > 2) {
      out.push(`<path d="${path(s.points)}" fill="none" stroke="${s.color}" stroke-opacity="0.25" stroke-width="1"/>`);
      const avg = movingAverage(
        s.points.map(([, b]) => b),
        s.smooth,
      );
      out.push(
        `<path d="${path(s.points.map(([a], i) => [a, avg[i]!] as const))}" fill="none" stroke="${s.color}" stroke-width="2"/>`,
      );
    } else {
      out.push(`<path d="${path(s.points)}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    }
    if (s.markers) {
      for (const [a, b] of s.points) {
        if (Number.isFinite(b)) {
          out.push(`<circle cx="${X(a).toFixed(1)}" cy="${Y(b).toFixed(1)}" r="3" fill="${s.color}"/>`);
        }
      }
    }
    const ly = y + top + 14 + si * 14;
    out.push(
      `<rect x="${x + left + pw - 118}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${x + left + pw - 104}" y="${ly}" font-size="10">${esc(s.name)}</text>`,
    );
  });
  return out;
}

/** Panels in a grid under a title, as an SVG document. */
export function lineFigure(
  title: string,
  panels: readonly LinePanel[],
  columns = 2,
  panelW = 440,
  panelH = 300,
): string {
  const cols = Math.max(1, Math.min(columns, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const width = cols * panelW + 20;
  const height = rows * (panelH + 10) + 40;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) =>
    out.push(...linePanel(p, 10 + (i % cols) * panelW, 36 + Math.floor(i / cols) * (panelH + 10), panelW, panelH)),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** An SVG rendered to PNG (white background). */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render().asPng();
}

/** Writes `<base>.svg` and `<base>.png`. */
export async function writeFigure(base: string, svg: string): Promise<void> {
  await writeBytesAtomic(`${base}.svg`, svg);
  await writeBytesAtomic(`${base}.png`, svgToPng(svg));
}

/** The validation metric keys of records (`val_*`), in first-seen order. */
export function validationKeys(records: readonly MetricRecord[]): string[] {
  const keys: string[] = [];
  for (const r of records) {
    for (const k of Object.keys(r)) {
      if (k.startsWith('val_') && !keys.includes(k)) {
        keys.push(k);
      }
    }
  }
  return keys;
}

/** The loss panel of runs (name → records). */
export function lossPanel(runs: readonly { name: string; records: readonly MetricRecord[] }[]): LinePanel {
  const n = Math.max(...runs.map((r) => r.records.length), 1);
  return {
    title: 'training loss',
    xLabel: 'step',
    yLabel: 'loss',
    logY: runs.every((r) => r.records.every((x) => x.loss > 0)),
    series: runs.map((r, i) => ({
      name: r.name,
      color: RUN_COLORS[i % RUN_COLORS.length]!,
      points: r.records.map((x) => [x.step, x.loss] as const),
      smooth: Math.max(2, Math.round(n / 30)),
    })),
  };
}

/** One panel per validation metric of runs. */
export function metricPanels(runs: readonly { name: string; records: readonly MetricRecord[] }[]): LinePanel[] {
  const keys = validationKeys(runs.flatMap((r) => r.records));
  return keys.map((k) => ({
    title: `validation ${k.slice(4)}`,
    xLabel: 'step',
    yLabel: k.slice(4),
    series: runs.map((r, i) => ({
      name: r.name,
      color: RUN_COLORS[i % RUN_COLORS.length]!,
      points: r.records.filter((x) => typeof x[k] === 'number').map((x) => [x.step, x[k] as number] as const),
      markers: true,
    })),
  }));
}
