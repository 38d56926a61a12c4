// Chart output for the benches: SVG as written, PNG through @resvg/resvg-js; both written
// atomically, so a chart is never half-written. Plus the small SVG pieces the bench charts share.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeBytesAtomic } from '../src/util/atomic.js';

/** Writes `svg` to `path`: rendered to PNG when the path ends in .png, else the SVG text. */
export function writeChart(path: string, svg: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  return writeBytesAtomic(
    path,
    path.toLowerCase().endsWith('.png')
      ? new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render().asPng()
      : svg,
  );
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum and tick step for values up to `max`. */
export function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) {
    return { top: 1, step: 0.25 };
  }
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

/** Short label for a bar value. */
export function barLabel(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

export interface BarPanel {
  title: string;
  yLabel: string;
  /** Category labels along x. */
  groups: string[];
  /** One bar per series in each group; null: no bar. */
  series: { name: string; color: string; values: (number | null)[]; labels?: (string | null)[] }[];
}

/**
 * One panel of grouped bars at (x, y) of size (w, h) (axes inside it), as SVG elements.
 */
export function barPanel(p: BarPanel, x: number, y: number, w: number, h: number): string[] {
  const out: string[] = [];
  const [left, top, bottom] = [58, 30, 46];
  const plotW = w - left - 10;
  const plotH = h - top - bottom;
  const max = Math.max(0, ...p.series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const axis = niceAxis(max);
  const yy = (v: number): number => y + top + plotH - (v / axis.top) * plotH;
  const groupW = plotW / Math.max(1, p.groups.length);
  const barW = Math.min(34, (groupW * 0.8) / Math.max(1, p.series.length));
  out.push(
    `<text x="${x + w / 2}" y="${y + 16}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`,
  );
  for (let v = 0; v <= axis.top + 1e-9; v += axis.step) {
    const t = yy(v).toFixed(1);
    out.push(
      `<line x1="${x + left}" y1="${t}" x2="${x + left + plotW}" y2="${t}" stroke="#e4e4e4"/>`,
      `<text x="${x + left - 6}" y="${(Number(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${Number(v.toFixed(4))}</text>`,
    );
  }
  out.push(
    `<line x1="${x + left}" y1="${y + top}" x2="${x + left}" y2="${y + top + plotH}" stroke="#000"/>`,
    `<line x1="${x + left}" y1="${y + top + plotH}" x2="${x + left + plotW}" y2="${y + top + plotH}" stroke="#000"/>`,
    `<text transform="translate(${x + 14} ${y + top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.yLabel)}</text>`,
  );
  p.groups.forEach((g, gi) => {
    const gx = x + left + gi * groupW + (groupW - barW * p.series.length) / 2;
    p.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined) {
        return;
      }
      const bx = gx + si * barW;
      const by = yy(v);
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y + top + plotH - by).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name} ${g}: ${v}`)}</title></rect>`,
        `<text x="${(bx + (barW - 2) / 2).toFixed(1)}" y="${(by - 3).toFixed(1)}" text-anchor="middle" font-size="9">${esc(s.labels?.[gi] ?? barLabel(v))}</text>`,
      );
    });
    const cx = x + left + (gi + 0.5) * groupW;
    const ly = y + top + plotH + 14;
    out.push(
      g.length * 6 > groupW
        ? `<text transform="translate(${cx.toFixed(1)} ${ly}) rotate(-25)" text-anchor="end" font-size="10">${esc(g)}</text>`
        : `<text x="${cx.toFixed(1)}" y="${ly + 2}" text-anchor="middle" font-size="11">${esc(g)}</text>`,
    );
  });
  if (p.series.length > 1) {
    p.series.forEach((s, i) => {
      const lx = x + left + 8 + i * 150;
      const ly = y + h - 12;
      out.push(
        `<rect x="${lx}" y="${ly - 9}" width="11" height="11" fill="${s.color}"/>`,
        `<text x="${lx + 15}" y="${ly}" font-size="10">${esc(s.name)}</text>`,
      );
    });
  }
  return out;
}

/** A figure of panels in a grid (`columns` per row) under a title. */
export function panelFigure(
  title: string,
  subtitle: string,
  panels: BarPanel[],
  columns = panels.length,
  panelW = 380,
  panelH = 300,
): string {
  const rowsN = Math.ceil(panels.length / columns);
  const width = Math.min(columns, panels.length) * panelW + 20;
  const height = rowsN * (panelH + 10) + 50;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#444">${esc(subtitle)}</text>`,
  ];
  panels.forEach((p, i) =>
    out.push(...barPanel(p, 10 + (i % columns) * panelW, 50 + Math.floor(i / columns) * (panelH + 10), panelW, panelH)),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
