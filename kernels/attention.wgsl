// attention.wgsl — fused windowed multi-head attention (flash-style, no score matrix in memory).
//
//   For each clip b, window w, head h and query token i of the window:
//     s_ij = q̂_i · k̂_j · scale + B[h, i, j]            over the keys j of the same window
//     o_i  = Σ_j softmax_j(s_ij) · v_j                   (online softmax in f32, base 2)
//   B[h, i, j] = table[idx(i, j) · NH + h] (Swin 3-D relative position bias, spec §4.5):
//     idx = ((ti − tj + Wt − 1)·(2Wh − 1) + (yi − yj + Wh − 1))·(2Ww − 1) + (xi − xj + Ww − 1)
//         = pos(i) − pos(j) + pos(Wt − 1, Wh − 1, Ww − 1),   pos(t, y, x) = (t·(2Wh − 1) + y)·(2Ww − 1) + x
//   IDENTITY flag (image inputs in spatiotemporal layers, spec §4.5): o_i = v_i.
//   Full attention is the window (T, H, W).
//
// Layout   tokens are (b, t, y, x) row-major over the latent (B, T, H, W); q, k, v are read at
//          row·*_stride + *_offset + h·DH + d (so q̂, k̂ can be their own (tokens, NH, DH) tensors and
//          v a slice of the qkv tensor (tokens, 3D)); o (tokens, NH·DH).
//
// Two thread mappings (both: f32 math, online softmax, no workgroup memory):
//  SUBGROUP_TILE (needs the `subgroups` feature; the fast path on llvmpipe):
//    a workgroup of WG invocations (one 8-lane subgroup on llvmpipe, several subgroups on GPUs)
//    owns WG·QL queries of one (b, window, head); invocation i owns the queries q0 + i + WG·r
//    (r < QL): their scaled q rows and output accumulators live in private arrays. Keys go in
//    blocks of the subgroup size sg (the builtin, not assumed): lane l of each subgroup loads key
//    and value row j0 + l (every lane a
//    distinct row: on llvmpipe every non-constant storage load is a guarded scalar load per lane, so
//    a row that all lanes load costs sg times as much), then for each key jj of the block all lanes
//    get its vec4s by subgroupShuffle (one vpermps) and use each for QL queries. One key per softmax
//    step: QL scores in registers; the reference maximum moves lazily (see the loop), so the
//    accumulators are not rescaled per key. The tail block runs only its valid keys (a uniform
//    bound), so no masking. Loop-carried stores are blended with the loop mask on llvmpipe, which
//    is why more keys per step (fewer accumulator updates) measured slower: LLVM then interleaves
//    the keys and spills.
//    The QL × DH/4 tile is unrolled with #unroll (QL, DH, DV are defines); with OPAQUE_LOOPS
//    (software adapters only) every loop that fills or drains a private array keeps a bound NIR
//    cannot see (DV + opaque + 1): with a visible bound NIR
//    unrolls it, and each unrolled storage access is 8 guarded per-lane loads of code (a 64-dim
//    variant compiled for 20 s instead of 2 s). The LLVM compile happens at the first dispatch.
//  Portable (no subgroups, or views that are not vec4-aligned): one workgroup per (b, window,
//    block of WG queries) × head, one invocation per query; every invocation walks the same keys
//    (uniform loads), KB keys per online-softmax step.
// Integer division by the window sizes goes through f32 (exact below 2^22 after a correction step):
// llvmpipe has no vector integer divide and would run 8 scalar divides per lane-vector.
// Function-scope arrays declared inside loops get explicit initialisers: on llvmpipe a declaration
// without one is not re-zeroed per iteration (seen as wrong results, not as a compile error).
//
// Variants F16 (storage), DH (head dim, multiple of 4) and DV = DH / 4, SUBGROUP_TILE with QL,
//          OPAQUE_LOOPS (defines).
// Overrides WG (subgroup path: a multiple of the adapter's largest subgroup), or WG, KB.

#include "lib/float.wgsl"

struct Params {
    lat_t: u32,        // latent frames T, height H, width W (per clip)
    lat_h: u32,
    lat_w: u32,
    win_t: u32,        // window Wt, Wh, Ww (must tile the latent)
    win_h: u32,
    win_w: u32,
    heads: u32,        // NH
    q_stride: u32,
    q_offset: u32,
    k_stride: u32,
    k_offset: u32,
    v_stride: u32,
    v_offset: u32,
    o_stride: u32,
    scale_log2: f32,   // scale · log2(e) (1.0 · log2 e when q̂ is pre-scaled)
    flags: u32,        // 1: add relative position bias, 2: identity (o = v)
    q_blocks: u32,     // ceil(Nw / queries per workgroup)
    windows: u32,      // windows per clip
    opaque: u32,       // always 0xFFFFFFFF: min(bound, opaque) keeps a loop rolled
};

#ifdef SUBGROUP_TILE
// vec4 elements: the wrapper checks that strides and offsets are multiples of 4.
@group(0) @binding(0) var<storage, read> q: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> table: array<T>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<T>>;
#else
@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> k: array<T>;
@group(0) @binding(2) var<storage, read> v: array<T>;
@group(0) @binding(3) var<storage, read> table: array<T>;
@group(0) @binding(4) var<storage, read_write> o: array<T>;
#endif
@group(0) @binding(5) var<uniform> params: Params;

const LOG2E: f32 = 1.4426950408889634;
const FLAG_BIAS: u32 = 1u;
const FLAG_IDENTITY: u32 = 2u;

// Four consecutive elements starting at element i (i a multiple of 4 on the subgroup path).
fn q4(i: u32) -> vec4<f32> {
#ifdef SUBGROUP_TILE
    return vec4<f32>(q[i / 4u]);
#else
    return vec4<f32>(f32(q[i]), f32(q[i + 1u]), f32(q[i + 2u]), f32(q[i + 3u]));
#endif
}

fn k4(i: u32) -> vec4<f32> {
#ifdef SUBGROUP_TILE
    return vec4<f32>(k[i / 4u]);
#else
    return vec4<f32>(f32(k[i]), f32(k[i + 1u]), f32(k[i + 2u]), f32(k[i + 3u]));
#endif
}

fn v4(i: u32) -> vec4<f32> {
#ifdef SUBGROUP_TILE
    return vec4<f32>(v[i / 4u]);
#else
    return vec4<f32>(f32(v[i]), f32(v[i + 1u]), f32(v[i + 2u]), f32(v[i + 3u]));
#endif
}

// n / d for n < 2^22: f32 quotient, then one correction step either way.
fn udiv(n: u32, d: u32) -> u32 {
    var x = u32(f32(n) / f32(d));
    let r = i32(n) - i32(x * d);
    if (r < 0) {
        x -= 1u;
    } else if (r >= i32(d)) {
        x += 1u;
    }
    return x;
}

#include "lib/window.wgsl"

// Global token row of window-local index n, and its bias position pos(t, y, x) (see the header).
fn token_of(w: Window, n: u32) -> vec2<u32> {
    let hw = params.win_h * params.win_w;
    let lt = udiv(n, hw);
    let rem = n - lt * hw;
    let ly = udiv(rem, params.win_w);
    let lx = rem - ly * params.win_w;
    let row = ((w.b * params.lat_t + w.t0 + lt) * params.lat_h + w.y0 + ly) * params.lat_w + w.x0 + lx;
    let pos = (lt * (2u * params.win_h - 1u) + ly) * (2u * params.win_w - 1u) + lx;
    return vec2<u32>(row, pos);
}

#ifdef SUBGROUP_TILE
override WG: u32 = 8;   // invocations per workgroup: a multiple of the largest subgroup size

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
    let h = wg.y;
    let hd = h * DH;
    let win = window_of(wg.x / params.q_blocks);
    let nw = params.win_t * params.win_h * params.win_w;
    let q0 = (wg.x % params.q_blocks) * WG * QL;   // first query of this workgroup
#ifdef OPAQUE_LOOPS
    // DV and QL as loop bounds NIR cannot see (opaque + 1 wraps to 0): with a visible bound it
    // unrolls every loop that indexes a private array, and each unrolled storage access becomes
    // 8 guarded per-lane loads of code (seconds of LLVM compile).
    let dv = DV + (params.opaque + 1u);
    let ql = QL + (params.opaque + 1u);
#else
    let dv = DV;
    let ql = QL;
#endif

    if ((params.flags & FLAG_IDENTITY) != 0u) {
        for (var r = 0u; r < ql; r++) {
            let n = q0 + r * WG + lid;
            if (n < nw) {
                let row = token_of(win, n).x;
                for (var c = 0u; c < dv; c++) {
                    o[(row * params.o_stride + hd) / 4u + c] = v[(row * params.v_stride + params.v_offset + hd) / 4u + c];
                }
            }
        }
        return;
    }

    // Queries (past the window: the last one again, not stored), pre-scaled by scale · log2 e.
    var qa: array<vec4<f32>, QL * DV>;   // qa[r·DV + c]: query r, dims 4c … 4c+3
    var oa: array<vec4<f32>, QL * DV>;   // output accumulators, same layout
    var qpos: array<u32, QL>;            // pos(query) + pos(Wt − 1, Wh − 1, Ww − 1)
    let pos_c = ((params.win_t - 1u) * (2u * params.win_h - 1u) + params.win_h - 1u) * (2u * params.win_w - 1u)
        + params.win_w - 1u;
    for (var r = 0u; r < ql; r++) {
        let tok = token_of(win, min(q0 + r * WG + lid, nw - 1u));
        let base = tok.x * params.q_stride + params.q_offset + hd;
        for (var c = 0u; c < dv; c++) {
            qa[r * DV + c] = q4(base + 4u * c) * params.scale_log2;
            oa[r * DV + c] = vec4<f32>(0.0);
        }
        qpos[r] = tok.y + pos_c;
    }
    var m: array<f32, QL>;   // softmax reference: within 8 of the running maximum (base-2 scores)
    var l: array<f32, QL>;   // running Σ exp2(s − m)
#unroll r 0 QL
    m[r] = -3.0e38;
    l[r] = 0.0;
#endunroll
    let use_bias = (params.flags & FLAG_BIAS) != 0u;

    var ka: array<vec4<f32>, DV>;   // key row j0 + lane
    var va: array<vec4<f32>, DV>;   // value row j0 + lane
    for (var j0 = 0u; j0 < nw; j0 += sg) {
        let tok = token_of(win, min(j0 + lane, nw - 1u));
        let kbase = tok.x * params.k_stride + params.k_offset + hd;
        let vbase = tok.x * params.v_stride + params.v_offset + hd;
        for (var c = 0u; c < dv; c++) {
            ka[c] = k4(kbase + 4u * c);
            va[c] = v4(vbase + 4u * c);
        }
        // Keys jj < keys of the block, one at a time: QL scores in registers, each shuffled key vec4
        // serving the QL queries of the lane, then one online-softmax step and o += p · v.
        let keys = min(sg, nw - j0);
        for (var jj = 0u; jj < keys; jj++) {
            var s = array<f32, QL>();   // (explicit initialiser: a declaration without one is not
                                        // re-zeroed per iteration on llvmpipe)
            if (use_bias) {
                let kpos = subgroupShuffle(tok.y, jj);
#unroll r 0 QL
                s[r] = f32(table[(qpos[r] - kpos) * params.heads + h]) * LOG2E;
#endunroll
            }
#unroll c 0 DV
            {
                let kc = subgroupShuffle(ka[c], jj);
#unroll r 0 QL
                s[r] += dot(qa[r * DV + c], kc);
#endunroll
            }
#endunroll
            // Lazy rescaling: p = exp2(s − m) against a reference m that moves only when a score
            // exceeds it by more than 8 (p ≤ 256: exact in f32, o / l unchanged). The rescale
            // branch is then rare and llvmpipe jumps over a branch no lane takes, instead of
            // multiplying the accumulators by exp2(m_old − m_new) for every key.
#unroll r 0 QL
            if (s[r] > m[r] + 8.0) {
                let alpha = exp2(m[r] - s[r]);
                l[r] *= alpha;
#unroll c 0 DV
                oa[r * DV + c] *= alpha;
#endunroll
                m[r] = s[r];
            }
            s[r] = exp2(s[r] - m[r]);
            l[r] += s[r];
#endunroll
#unroll c 0 DV
            {
                let vc = subgroupShuffle(va[c], jj);
#unroll r 0 QL
                oa[r * DV + c] = fma(vec4<f32>(s[r]), vc, oa[r * DV + c]);
#endunroll
            }
#endunroll
        }
    }

    for (var r = 0u; r < ql; r++) {
        let n = q0 + r * WG + lid;
        if (n < nw) {
            let obase = (token_of(win, n).x * params.o_stride + hd) / 4u;
            let inv = 1.0 / l[r];
            for (var c = 0u; c < dv; c++) {
                o[obase + c] = vec4<T>(oa[r * DV + c] * inv);
            }
        }
    }
}
#else
override WG: u32 = 32;
override KB: u32 = 8;   // keys per online-softmax step, ≤ 16

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let hd = h * DH;
    let qb = wg.x % params.q_blocks;
    let win = window_of(wg.x / params.q_blocks);
    let nw = params.win_t * params.win_h * params.win_w;
#ifdef OPAQUE_LOOPS
    let dv = DV + (params.opaque + 1u);   // DV, hidden from NIR's unroller (see the subgroup path)
#else
    let dv = DV;
#endif

    let qtok = token_of(win, min(qb * WG + lid, nw - 1u));   // queries past the window repeat the last (not stored)
    let live = qb * WG + lid < nw;

    if ((params.flags & FLAG_IDENTITY) != 0u) {
        if (live) {
            for (var d = 0u; d < 4u * dv; d++) {
                o[qtok.x * params.o_stride + hd + d] = v[qtok.x * params.v_stride + params.v_offset + hd + d];
            }
        }
        return;
    }

    var qv: array<vec4<f32>, DV>;
    var acc: array<vec4<f32>, DV>;
    let qbase = qtok.x * params.q_stride + params.q_offset + hd;
    for (var d = 0u; d < dv; d++) {
        qv[d] = q4(qbase + 4u * d) * params.scale_log2;
        acc[d] = vec4<f32>(0.0);
    }
    var m = -3.0e38;
    var l = 0.0;
    let use_bias = (params.flags & FLAG_BIAS) != 0u;
    let qpos = qtok.y + ((params.win_t - 1u) * (2u * params.win_h - 1u) + params.win_h - 1u) * (2u * params.win_w - 1u)
        + params.win_w - 1u;

    for (var j0 = 0u; j0 < nw; j0 += KB) {
        var s: array<f32, 16>;
        var mb = m;
        for (var jj = 0u; jj < KB; jj++) {
            let j = j0 + jj;
            if (j < nw) {
                let kt = token_of(win, j);
                let kbase = kt.x * params.k_stride + params.k_offset + hd;
                var dot4 = vec4<f32>(0.0);
                for (var d = 0u; d < dv; d++) {
                    dot4 = fma(qv[d], k4(kbase + 4u * d), dot4);
                }
                var sj = dot4.x + dot4.y + dot4.z + dot4.w;
                if (use_bias) {
                    sj += f32(table[(qpos - kt.y) * params.heads + h]) * LOG2E;
                }
                s[jj] = sj;
                mb = max(mb, sj);
            } else {
                s[jj] = -3.0e38;
            }
        }
        // Rescale what was accumulated under the old maximum.
        let alpha = exp2(m - mb);
        l *= alpha;
        for (var d = 0u; d < dv; d++) {
            acc[d] *= alpha;
        }
        m = mb;
        for (var jj = 0u; jj < KB; jj++) {
            let j = j0 + jj;
            if (j < nw) {
                let p = exp2(s[jj] - m);
                l += p;
                let vbase = token_of(win, j).x * params.v_stride + params.v_offset + hd;
                for (var d = 0u; d < dv; d++) {
                    acc[d] = fma(vec4<f32>(p), v4(vbase + 4u * d), acc[d]);
                }
            }
        }
    }

    if (live) {
        let inv = 1.0 / l;
        let obase = qtok.x * params.o_stride + hd;
        for (var d = 0u; d < dv; d++) {
            let r = acc[d] * inv;
            o[obase + 4u * d] = T(r.x);
            o[obase + 4u * d + 1u] = T(r.y);
            o[obase + 4u * d + 2u] = T(r.z);
            o[obase + 4u * d + 3u] = T(r.w);
        }
    }
}
#endif
