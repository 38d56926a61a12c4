// Triangle meshes of the synthetic scenes: unit shapes centred at the origin inside
// [-0.5, 0.5]³ (z up), triangles wound counter-clockwise seen from outside, and the room.

/** Shapes an object can have. */
export type ShapeName = 'cube' | 'sphere' | 'cylinder' | 'cone';

/** Every shape, in a fixed order (scene sampling indexes it). */
export const SHAPES: readonly ShapeName[] = ['cube', 'sphere', 'cylinder', 'cone'];

/** An indexed triangle mesh. */
export interface Mesh {
  /** `[V, 3]` vertex positions in the mesh's own frame. */
  positions: Float64Array;
  /** `[F, 3]` vertex indices per triangle, front faces counter-clockwise. */
  indices: Uint32Array;
}

type V3 = [number, number, number];

/**
 * A mesh from vertices and triangles, each triangle flipped where needed so that its normal
 * (b − a) × (c − a) points away from `centre` (`outward`) or towards it (`inward`, for a room).
 */
function build(verts: V3[], tris: [number, number, number][], centre: V3, facing: 'outward' | 'inward'): Mesh {
  const positions = new Float64Array(verts.flat());
  const indices = new Uint32Array(tris.length * 3);
  tris.forEach(([a, b, c], i) => {
    const A = verts[a]!;
    const B = verts[b]!;
    const C = verts[c]!;
    const u = [B[0] - A[0], B[1] - A[1], B[2] - A[2]];
    const v = [C[0] - A[0], C[1] - A[1], C[2] - A[2]];
    const n = [u[1]! * v[2]! - u[2]! * v[1]!, u[2]! * v[0]! - u[0]! * v[2]!, u[0]! * v[1]! - u[1]! * v[0]!];
    const g = [
      (A[0] + B[0] + C[0]) / 3 - centre[0],
      (A[1] + B[1] + C[1]) / 3 - centre[1],
      (A[2] + B[2] + C[2]) / 3 - centre[2],
    ];
    const d = n[0]! * g[0]! + n[1]! * g[1]! + n[2]! * g[2]!;
    const flip = facing === 'outward' ? d < 0 : d > 0;
    indices.set(flip ? [a, c, b] : [a, b, c], 3 * i);
  });
  return { positions, indices };
}

function quad(tris: [number, number, number][], a: number, b: number, c: number, d: number): void {
  tris.push([a, b, c], [a, c, d]);
}

function cube(): Mesh {
  const v: V3[] = [];
  for (const z of [-0.5, 0.5]) {
    for (const y of [-0.5, 0.5]) {
      for (const x of [-0.5, 0.5]) {
        v.push([x, y, z]);
      }
    }
  }
  const t: [number, number, number][] = [];
  quad(t, 0, 1, 3, 2); // z−
  quad(t, 4, 5, 7, 6); // z+
  quad(t, 0, 1, 5, 4); // y−
  quad(t, 2, 3, 7, 6); // y+
  quad(t, 0, 2, 6, 4); // x−
  quad(t, 1, 3, 7, 5); // x+
  return build(v, t, [0, 0, 0], 'outward');
}

function sphere(rings = 8, segments = 12): Mesh {
  const v: V3[] = [[0, 0, 0.5]];
  for (let i = 1; i < rings; i++) {
    const th = (Math.PI * i) / rings;
    for (let j = 0; j < segments; j++) {
      const ph = (2 * Math.PI * j) / segments;
      v.push([0.5 * Math.sin(th) * Math.cos(ph), 0.5 * Math.sin(th) * Math.sin(ph), 0.5 * Math.cos(th)]);
    }
  }
  v.push([0, 0, -0.5]);
  const ring = (i: number, j: number): number => 1 + (i - 1) * segments + (j % segments);
  const t: [number, number, number][] = [];
  for (let j = 0; j < segments; j++) {
    t.push([0, ring(1, j), ring(1, j + 1)]);
    t.push([v.length - 1, ring(rings - 1, j), ring(rings - 1, j + 1)]);
    for (let i = 1; i < rings - 1; i++) {
      quad(t, ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1));
    }
  }
  return build(v, t, [0, 0, 0], 'outward');
}

function cylinder(segments = 16): Mesh {
  const v: V3[] = [];
  for (let j = 0; j < segments; j++) {
    const ph = (2 * Math.PI * j) / segments;
    v.push([0.5 * Math.cos(ph), 0.5 * Math.sin(ph), -0.5], [0.5 * Math.cos(ph), 0.5 * Math.sin(ph), 0.5]);
  }
  const bottom = v.push([0, 0, -0.5]) - 1;
  const top = v.push([0, 0, 0.5]) - 1;
  const t: [number, number, number][] = [];
  for (let j = 0; j < segments; j++) {
    const k = (j + 1) % segments;
    quad(t, 2 * j, 2 * k, 2 * k + 1, 2 * j + 1);
    t.push([bottom, 2 * j, 2 * k], [top, 2 * j + 1, 2 * k + 1]);
  }
  return build(v, t, [0, 0, 0], 'outward');
}

function cone(segments = 16): Mesh {
  const v: V3[] = [];
  for (let j = 0; j < segments; j++) {
    const ph = (2 * Math.PI * j) / segments;
    v.push([0.5 * Math.cos(ph), 0.5 * Math.sin(ph), -0.5]);
  }
  const base = v.push([0, 0, -0.5]) - 1;
  const apex = v.push([0, 0, 0.5]) - 1;
  const t: [number, number, number][] = [];
  for (let j = 0; j < segments; j++) {
    const k = (j + 1) % segments;
    t.push([base, j, k], [apex, j, k]);
  }
  return build(v, t, [0, 0, 0], 'outward');
}

const CACHE = new Map<ShapeName, Mesh>();

/** The unit mesh of a shape (built once). */
export function shapeMesh(shape: ShapeName): Mesh {
  let m = CACHE.get(shape);
  if (m === undefined) {
    m = shape === 'cube' ? cube() : shape === 'sphere' ? sphere() : shape === 'cylinder' ? cylinder() : cone();
    CACHE.set(shape, m);
  }
  return m;
}

/** The room's three surfaces, facing inwards: floor z = 0, walls at ±half, ceiling z = height. */
export interface RoomMeshes {
  floor: Mesh;
  walls: Mesh;
  ceiling: Mesh;
}

/** A closed box room `[-half, half]² × [0, height]` seen from inside. */
export function roomMeshes(half: number, height: number): RoomMeshes {
  const v: V3[] = [];
  for (const z of [0, height]) {
    for (const y of [-half, half]) {
      for (const x of [-half, half]) {
        v.push([x, y, z]);
      }
    }
  }
  const c: V3 = [0, 0, height / 2];
  const floor: [number, number, number][] = [];
  quad(floor, 0, 1, 3, 2);
  const ceiling: [number, number, number][] = [];
  quad(ceiling, 4, 5, 7, 6);
  const walls: [number, number, number][] = [];
  quad(walls, 0, 1, 5, 4);
  quad(walls, 2, 3, 7, 6);
  quad(walls, 0, 2, 6, 4);
  quad(walls, 1, 3, 7, 5);
  return {
    floor: build(v, floor, c, 'inward'),
    walls: build(v, walls, c, 'inward'),
    ceiling: build(v, ceiling, c, 'inward'),
  };
}
