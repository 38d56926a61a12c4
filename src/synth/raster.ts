// A software rasterizer with a z-buffer: triangles in camera space (OpenCV axes: x right, y down,
// z forward), clipped at the near plane, back faces culled, sampled at pixel centres, depth and
// texture coordinates interpolated perspective-correctly, flat (per-face Lambert) lighting.
// All arithmetic is IEEE double in a fixed order, so a scene renders to the same bits anywhere.
import { mat4 } from 'gl-matrix';
import type { Mesh } from './meshes.js';
import type { Rgb } from './palette.js';

/** Surface pattern: evaluated on the mesh-frame position, so it moves with the object. */
export interface Material {
  base: Rgb;
  /** The second colour of the pattern. */
  alt: Rgb;
  pattern: 'checker' | 'stripes' | 'plain';
  /** Cell size of the pattern in mesh units. */
  cell: number;
  /** Offset added to the position before the pattern (keeps cell edges off flat faces). */
  phase: readonly [number, number, number];
}

/** One mesh placed in the world. */
export interface DrawItem {
  /** Written to the id buffer: 0 for the room, 1… for objects. */
  id: number;
  mesh: Mesh;
  /** Mesh-to-world 4×4, column-major (gl-matrix layout). */
  model: Float64Array;
  material: Material;
}

/** A pinhole camera. */
export interface View {
  /** World-to-camera 4×4, column-major, OpenCV camera axes. */
  w2c: Float64Array;
  /** Intrinsics in pixels of this raster (pixel centres at i + 0.5). */
  fx: number;
  fy: number;
  cx: number;
  cy: number;
  width: number;
  height: number;
}

/** What a raster pass produces. */
export interface RasterOut {
  width: number;
  height: number;
  /** `[H, W]` camera z (metres) of the nearest surface at each pixel centre; Infinity where none. */
  depth: Float64Array;
  /** `[H, W]` id of the nearest surface; −1 where none. */
  id: Int16Array;
  /** `[H, W, 3]` shaded colour in [0, 1], when asked for. */
  colour?: Float64Array;
}

/** Surfaces nearer than this (metres) are clipped. */
export const NEAR = 0.05;

/** Direction towards the light (world, z up), unit length. */
const LIGHT = ((): [number, number, number] => {
  const v = [0.35, -0.45, 0.82];
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return [v[0]! / n, v[1]! / n, v[2]! / n];
})();
const AMBIENT = 0.55;
const DIFFUSE = 0.45;

/** Transforms point `i` of `src` (xyz triples) by the column-major 4×4 `m` into `dst[o..o+2]`. */
function xform(m: Float64Array, src: Float64Array, i: number, dst: Float64Array, o: number): void {
  const x = src[3 * i]!;
  const y = src[3 * i + 1]!;
  const z = src[3 * i + 2]!;
  dst[o] = m[0]! * x + m[4]! * y + m[8]! * z + m[12]!;
  dst[o + 1] = m[1]! * x + m[5]! * y + m[9]! * z + m[13]!;
  dst[o + 2] = m[2]! * x + m[6]! * y + m[10]! * z + m[14]!;
}

function parity(k: number): number {
  return ((k % 2) + 2) % 2;
}

/** The pattern colour at mesh-frame position (x, y, z), written into out[o..o+2] scaled by `shade`. */
function texel(m: Material, x: number, y: number, z: number, shade: number, out: Float64Array, o: number): void {
  let useAlt = false;
  if (m.pattern === 'checker') {
    const k =
      Math.floor((x + m.phase[0]) / m.cell) +
      Math.floor((y + m.phase[1]) / m.cell) +
      Math.floor((z + m.phase[2]) / m.cell);
    useAlt = parity(k) === 1;
  } else if (m.pattern === 'stripes') {
    useAlt = parity(Math.floor((x + m.phase[0]) / m.cell)) === 1;
  }
  const c = useAlt ? m.alt : m.base;
  out[o] = c[0] * shade;
  out[o + 1] = c[1] * shade;
  out[o + 2] = c[2] * shade;
}

/** A clipped polygon vertex: camera xyz then mesh-frame xyz. */
type PV = [number, number, number, number, number, number];

function clipNear(poly: PV[]): PV[] {
  const out: PV[] = [];
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % poly.length]!;
    const ain = a[2] >= NEAR;
    const bin = b[2] >= NEAR;
    if (ain) {
      out.push(a);
    }
    if (ain !== bin) {
      const s = (NEAR - a[2]) / (b[2] - a[2]);
      out.push(a.map((v, k) => (k === 2 ? NEAR : v + s * (b[k]! - v))) as PV);
    }
  }
  return out;
}

/**
 * Draws `items` seen through `view` into a fresh z-buffer (and colour buffer with `colour`).
 *
 * Per triangle (a, b, c) in camera space: culled when (b−a)×(c−a) · a ≥ 0 (facing away); clipped
 * to z ≥ {@link NEAR}; projected to (fx·x/z + cx, fy·y/z + cy). A pixel centre p is covered when
 * its barycentric weights wᵢ (edge functions over the signed area) are all ≥ 0; its depth is
 * z = 1 / Σ wᵢ/zᵢ and its mesh-frame position Σ (wᵢ/zᵢ)·lᵢ · z. The nearest surface wins
 * (strictly nearer replaces). Colour = pattern(position) · (0.55 + 0.45·max(0, n·light)).
 */
export function rasterize(items: readonly DrawItem[], view: View, opts: { colour: boolean }): RasterOut {
  const { width: W, height: H, fx, fy, cx, cy } = view;
  const depth = new Float64Array(W * H).fill(Infinity);
  const id = new Int16Array(W * H).fill(-1);
  const colour = opts.colour ? new Float64Array(W * H * 3) : undefined;
  const world = new Float64Array(9);
  const cam = new Float64Array(9);
  const texOut = new Float64Array(3);
  for (const item of items) {
    const { positions, indices } = item.mesh;
    const mv = mat4.multiply(new Float64Array(16), view.w2c, item.model) as Float64Array;
    for (let f = 0; f < indices.length; f += 3) {
      for (let k = 0; k < 3; k++) {
        xform(item.model, positions, indices[f + k]!, world, 3 * k);
        xform(mv, positions, indices[f + k]!, cam, 3 * k);
      }
      // Back faces (and edge-on faces) are skipped.
      const ux = cam[3]! - cam[0]!;
      const uy = cam[4]! - cam[1]!;
      const uz = cam[5]! - cam[2]!;
      const vx = cam[6]! - cam[0]!;
      const vy = cam[7]! - cam[1]!;
      const vz = cam[8]! - cam[2]!;
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      if (nx * cam[0]! + ny * cam[1]! + nz * cam[2]! >= 0) {
        continue;
      }
      if (cam[2]! < NEAR && cam[5]! < NEAR && cam[8]! < NEAR) {
        continue;
      }
      let shade = 0;
      if (colour) {
        const ax = world[3]! - world[0]!;
        const ay = world[4]! - world[1]!;
        const az = world[5]! - world[2]!;
        const bx = world[6]! - world[0]!;
        const by = world[7]! - world[1]!;
        const bz = world[8]! - world[2]!;
        const wx = ay * bz - az * by;
        const wy = az * bx - ax * bz;
        const wz = ax * by - ay * bx;
        const len = Math.hypot(wx, wy, wz);
        const lambert = len > 0 ? (wx * LIGHT[0] + wy * LIGHT[1] + wz * LIGHT[2]) / len : 0;
        shade = AMBIENT + DIFFUSE * Math.max(0, lambert);
      }
      let poly: PV[] = [0, 1, 2].map((k) => {
        const vi = indices[f + k]!;
        return [
          cam[3 * k]!,
          cam[3 * k + 1]!,
          cam[3 * k + 2]!,
          positions[3 * vi]!,
          positions[3 * vi + 1]!,
          positions[3 * vi + 2]!,
        ];
      });
      if (poly.some((p) => p[2] < NEAR)) {
        poly = clipNear(poly);
      }
      for (let k = 1; k + 1 < poly.length; k++) {
        drawTriangle(poly[0]!, poly[k]!, poly[k + 1]!, shade);
      }
    }
    function drawTriangle(a: PV, b: PV, c: PV, shade: number): void {
      const ax = (fx * a[0]) / a[2] + cx;
      const ay = (fy * a[1]) / a[2] + cy;
      const bx = (fx * b[0]) / b[2] + cx;
      const by = (fy * b[1]) / b[2] + cy;
      const qx = (fx * c[0]) / c[2] + cx;
      const qy = (fy * c[1]) / c[2] + cy;
      const area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax);
      if (area === 0 || !Number.isFinite(area)) {
        return;
      }
      const x0 = Math.max(0, Math.ceil(Math.min(ax, bx, qx) - 0.5));
      const x1 = Math.min(W - 1, Math.floor(Math.max(ax, bx, qx) - 0.5));
      const y0 = Math.max(0, Math.ceil(Math.min(ay, by, qy) - 0.5));
      const y1 = Math.min(H - 1, Math.floor(Math.max(ay, by, qy) - 0.5));
      const iza = 1 / a[2];
      const izb = 1 / b[2];
      const izc = 1 / c[2];
      for (let y = y0; y <= y1; y++) {
        const py = y + 0.5;
        for (let x = x0; x <= x1; x++) {
          const px = x + 0.5;
          const wa = ((qx - bx) * (py - by) - (qy - by) * (px - bx)) / area;
          const wb = ((ax - qx) * (py - qy) - (ay - qy) * (px - qx)) / area;
          const wc = ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) / area;
          if (wa < 0 || wb < 0 || wc < 0) {
            continue;
          }
          const iz = wa * iza + wb * izb + wc * izc;
          const z = 1 / iz;
          const p = y * W + x;
          if (!(z < depth[p]!)) {
            continue;
          }
          depth[p] = z;
          id[p] = item.id;
          if (colour) {
            const ka = wa * iza * z;
            const kb = wb * izb * z;
            const kc = wc * izc * z;
            texel(
              item.material,
              ka * a[3] + kb * b[3] + kc * c[3],
              ka * a[4] + kb * b[4] + kc * c[4],
              ka * a[5] + kb * b[5] + kc * c[5],
              shade,
              texOut,
              0,
            );
            colour[3 * p] = texOut[0]!;
            colour[3 * p + 1] = texOut[1]!;
            colour[3 * p + 2] = texOut[2]!;
          }
        }
      }
    }
  }
  return colour ? { width: W, height: H, depth, id, colour } : { width: W, height: H, depth, id };
}
