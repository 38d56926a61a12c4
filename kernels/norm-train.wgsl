// norm-train.wgsl — LayerNorm (full, scale-only, no affine) and RMSNorm for training: the forward
// saves its statistics, the backward gives dx and the affine gradients. f32 statistics and
// gradients; x and y in the storage type T (f32, or f16 with F16).
//
// Math (row n of `cols` values; RMS flag: μ = 0 and no mean term)
//   forward   μ_n = x0 + mean_c (x[n,c] − x0)    (x0 = the row's first value: a shifted mean)
//             σ²_n = mean_c ((x[n,c] − x0) − (μ_n − x0))²   (two-pass, biased)   RMS: σ²_n = mean_c x[n,c]²
//             rstd_n = 1/√(σ²_n + eps),  x̂ = (x − μ_n)·rstd_n,  y = x̂·w[c] + b[c]   (HAS_W, HAS_B flags)
//   backward  g = dy ⊙ w (dy without HAS_W);  a_n = mean_c g (0 for RMS),  m_n = mean_c g ⊙ x̂
//             dx = rstd_n·(g − a_n − x̂·m_n)                (RMS: = rstd·g − rstd³·x·mean_c(g·x))
//   col_sums  pass 1 of dweight / dscale A = Σ dy·x̂ and (WANT_B) dbias B = Σ dy, over the outer rows r
//             and the whole width c < cols = H·d (RMSNorm: head h = c / d, x̂ = x·rstd[r·H + h]):
//             block k (rows_per_block outer rows) writes out_a[(block_offset + k)·cols + c] = Σ_{r in k} dy·x̂
//             and out_b[…] = Σ_{r in k} dy (f32 partials, one writer each); the wrapper sums them over
//             the blocks (and heads) in a fixed order with the colsum family (kernels/colsum.wgsl).
//             With a single block of one head it writes the results themselves (= or += with ACCUMULATE).
//
// Layout   (element indices; params are in elements) row n of x starts at
//          x_offset + (n / rows_inner)·outer_stride + (n % rows_inner)·inner_stride (LayerNorm: rows_inner 1,
//          outer_stride = cols; RMSNorm over the heads of a [R, H·d] view with row stride S: n = r·H + h,
//          rows_inner H, inner_stride d, outer_stride S). y and dy are contiguous: row n at n·cols.
//          dx starts at out_offset + (n / rows_inner)·out_outer_stride + (n % rows_inner)·inner_stride.
//          mean, rstd [rows] f32; w, b [cols] f32. col_sums: cols = H·d, rows = outer rows.
// Bindings x; p = w (forward) or dy (backward, col_sums); q = b (forward) or w (backward); mean_in,
//          rstd_in; y (forward); out_a = mean (forward), dx (backward), A (col_sums); out_b = rstd
//          (forward), B (col_sums). Unused ones are bound to small dummies. x, p, q, y hold VT/VF:
//          vec4s with VEC4 (every row length, stride and offset a multiple of 4: a quarter of the
//          loads, which is what llvmpipe pays for), else scalars; out_a, out_b are f32 (scalar stores).
// Threads  forward, backward: `lanes` (a power of two ≤ WG) invocations per row, WG / lanes rows per
//          workgroup, 2-D fold of the workgroup index; lane l takes kernel columns l, l + lanes, …;
//          segmented tree reductions in workgroup memory (fixed order: deterministic). col_sums:
//          workgroup (wg.x, wg.y) = (tile of `lanes` kernel columns, row block wg.y); invocation lid
//          owns kernel column lid % lanes (neighbours read neighbouring addresses) and walks outer rows
//          lid / lanes, + WG / lanes, … of its block; the WG / lanes row lanes are then summed by a
//          tree in workgroup memory. Plain stores (= or += with ACCUMULATE): no atomics.
// Memory   buf, buf2: WG × vec4<f32> each.
// Variants F16 (storage of x, y), VEC4; entry points forward, backward, col_sums.  Override WG (a power
//          of two).
// Flags    1 HAS_W, 2 HAS_B, 4 RMS, 8 ACCUMULATE (into dx, or single-block column sums), 16 WANT_B.

#include "lib/float.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    lanes: u32,
    rows_inner: u32,
    inner_stride: u32,
    outer_stride: u32,
    x_offset: u32,
    out_outer_stride: u32,
    out_offset: u32,
    rows_per_block: u32,
    block_offset: u32,
    flags: u32,
    eps: f32,
};

#ifdef VEC4
alias VT = vec4<T>;
alias VF = vec4<f32>;
const VW: u32 = 4u;
#else
alias VT = T;
alias VF = f32;
const VW: u32 = 1u;
#endif

@group(0) @binding(0) var<storage, read> x: array<VT>;
@group(0) @binding(1) var<storage, read> p: array<VF>;        // forward: w; backward, col_sums: dy
@group(0) @binding(2) var<storage, read> q: array<VF>;        // forward: b; backward: w
@group(0) @binding(3) var<storage, read> mean_in: array<f32>;
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<VT>;        // forward: y
@group(0) @binding(6) var<storage, read_write> out_a: array<f32>;   // forward: mean; backward: dx; col_sums: A
@group(0) @binding(7) var<storage, read_write> out_b: array<f32>;   // forward: rstd; col_sums: B
@group(0) @binding(8) var<uniform> params: Params;

override WG: u32 = 256;

const HAS_W: u32 = 1u;
const HAS_B: u32 = 2u;
const RMS: u32 = 4u;
const ACCUMULATE: u32 = 8u;
const WANT_B: u32 = 16u;

var<workgroup> buf: array<vec4<f32>, WG>;
var<workgroup> buf2: array<vec4<f32>, WG>;

fn has(flag: u32) -> bool {
    return (params.flags & flag) != 0u;
}

// Sum of the components (a fixed order).
fn hsum(v: VF) -> f32 {
#ifdef VEC4
    return (v.x + v.y) + (v.z + v.w);
#else
    return v;
#endif
}

fn wide(v: VF) -> vec4<f32> {
#ifdef VEC4
    return v;
#else
    return vec4<f32>(v, 0.0, 0.0, 0.0);
#endif
}

// The first value of a kernel column.
fn first(v: VT) -> f32 {
#ifdef VEC4
    return f32(v.x);
#else
    return f32(v);
#endif
}

// Element index of row n's first value in x.
fn x_row(n: u32) -> u32 {
    return params.x_offset + (n / params.rows_inner) * params.outer_stride + (n % params.rows_inner) * params.inner_stride;
}

// Sum of v over the `lanes` invocations of this invocation's segment (lanes a power of two);
// every invocation gets its segment's total. Workgroup-uniform control flow required.
fn seg_sum(v: vec2<f32>, lid: u32, lane: u32) -> vec2<f32> {
    buf[lid] = vec4<f32>(v, 0.0, 0.0);
    workgroupBarrier();
    for (var s = params.lanes / 2u; s > 0u; s = s / 2u) {
        if (lane < s) {
            buf[lid] = buf[lid] + buf[lid + s];
        }
        workgroupBarrier();
    }
    let r = buf[lid - lane].xy;
    workgroupBarrier();
    return r;
}

fn row_index(wg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * 65535u + wg.x) * (WG / params.lanes) + lid / params.lanes;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let step = params.lanes;
    let lane = lid % step;
    let n = row_index(wg, lid);
    let live = n < params.rows;
    let cols = select(0u, params.cols / VW, live);   // inactive rows still reach every barrier
    let base = select(0u, x_row(n), live);
    let bv = base / VW;
    let y0 = n * (params.cols / VW);
    let nc = f32(params.cols);
    let rms = has(RMS);
    let has_w = has(HAS_W);
    let has_b = has(HAS_B);
    var x0 = 0.0;
    var md = 0.0;
    if (!rms) {
        if (live) {
            x0 = first(x[bv]);
        }
        var s = VF(0.0);
        for (var c = lane; c < cols; c += step) {
            s += VF(x[bv + c]) - x0;
        }
        md = seg_sum(vec2<f32>(hsum(s), 0.0), lid, lane).x / nc;
    }
    var ss = VF(0.0);
    for (var c = lane; c < cols; c += step) {
        let d = (VF(x[bv + c]) - x0) - md;
        ss += d * d;
    }
    let rstd = inverseSqrt(seg_sum(vec2<f32>(hsum(ss), 0.0), lid, lane).x / nc + params.eps);
    if (live && lane == 0u) {
        if (!rms) {
            out_a[n] = x0 + md;
        }
        out_b[n] = rstd;
    }
    for (var c = lane; c < cols; c += step) {
        var h = ((VF(x[bv + c]) - x0) - md) * rstd;
        if (has_w) {
            h *= p[c];
        }
        if (has_b) {
            h += q[c];
        }
        y[y0 + c] = VT(h);
    }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let step = params.lanes;
    let lane = lid % step;
    let n = row_index(wg, lid);
    let live = n < params.rows;
    let cols = select(0u, params.cols / VW, live);
    let bv = select(0u, x_row(n), live) / VW;
    let g0 = n * (params.cols / VW);
    let rms = has(RMS);
    let has_w = has(HAS_W);
    let accumulate = has(ACCUMULATE);
    var mu = 0.0;
    var rstd = 0.0;
    if (live) {
        rstd = rstd_in[n];
        if (!rms) {
            mu = mean_in[n];
        }
    }
    var sg = VF(0.0);
    var sgh = VF(0.0);
    for (var c = lane; c < cols; c += step) {
        var g = p[g0 + c];
        if (has_w) {
            g *= q[c];
        }
        let h = (VF(x[bv + c]) - mu) * rstd;
        sg += g;
        sgh += g * h;
    }
    let tot = seg_sum(vec2<f32>(hsum(sg), hsum(sgh)), lid, lane) / f32(params.cols);
    let a = select(tot.x, 0.0, rms);
    let m = tot.y;
    let o = params.out_offset + (n / params.rows_inner) * params.out_outer_stride + (n % params.rows_inner) * params.inner_stride;
    for (var c = lane; c < cols; c += step) {
        var g = p[g0 + c];
        if (has_w) {
            g *= q[c];
        }
        let h = (VF(x[bv + c]) - mu) * rstd;
        let v = wide(rstd * (g - a - h * m));
        let i = o + c * VW;
        for (var k = 0u; k < VW; k++) {
            if (accumulate) {
                out_a[i + k] += v[k];
            } else {
                out_a[i + k] = v[k];
            }
        }
    }
}

// Kernel column c (VW values) of the width (head VW·c / inner_stride for RMSNorm) over the outer
// rows of block wg.y.
@compute @workgroup_size(WG)
fn col_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tc = params.lanes;
    let rl = WG / tc;
    let lane = lid / tc;
    let cols = params.cols / VW;
    let c = wg.x * tc + lid % tc;
    let col_ok = c < cols;
    let r0 = wg.y * params.rows_per_block;
    let r1 = select(r0, min(params.rows, r0 + params.rows_per_block), col_ok);
    let rms = has(RMS);
    let heads = params.rows_inner;
    let h = select(0u, (c * VW) / params.inner_stride, col_ok);
    let xs = params.outer_stride / VW;
    var xi = params.x_offset / VW + (r0 + lane) * xs + c;
    var di = (r0 + lane) * cols + c;
    var sa = VF(0.0);
    var sb = VF(0.0);
    for (var r = r0 + lane; r < r1; r += rl) {
        let d = p[di];
        var mu = 0.0;
        if (!rms) {
            mu = mean_in[r];
        }
        sa += d * (VF(x[xi]) - mu) * rstd_in[r * heads + h];
        sb += d;
        xi += rl * xs;
        di += rl * cols;
    }
    buf[lid] = wide(sa);
    buf2[lid] = wide(sb);
    workgroupBarrier();
    for (var s = rl / 2u; s > 0u; s = s / 2u) {
        if (lane < s) {
            buf[lid] = buf[lid] + buf[lid + s * tc];
            buf2[lid] = buf2[lid] + buf2[lid + s * tc];
        }
        workgroupBarrier();
    }
    if (lane == 0u && col_ok) {
        let ta = buf[lid];
        let tb = buf2[lid];
        let o = (params.block_offset + wg.y) * params.cols + c * VW;
        let accumulate = has(ACCUMULATE);
        let want_b = has(WANT_B);
        for (var k = 0u; k < VW; k++) {
            if (accumulate) {
                out_a[o + k] += ta[k];
                if (want_b) {
                    out_b[o + k] += tb[k];
                }
            } else {
                out_a[o + k] = ta[k];
                if (want_b) {
                    out_b[o + k] = tb[k];
                }
            }
        }
    }
}
