// cross-attention.wgsl — multi-head cross-attention with its own key count (OC4: softmax over the
// keys only, no mask, no bias), forward with the row log-sum-exp and the FlashAttention-2 backward.
//
//   Per problem b < B, head h < H, query i < Nq, key j < Nk (s = scale, default 1/√d):
//     S_ij  = s · q_i · k_j                    lse_i = log Σ_j exp(S_ij)  (natural log)
//     P_ij  = exp(S_ij − lse_i)                o_i   = Σ_j P_ij · v_j
//   backward, from dO:
//     D_i   = dO_i · o_i                                         (bwd_preprocess)
//     dP_ij = dO_i · v_j      dS_ij = P_ij · (dP_ij − D_i)
//     dq_i  = s · Σ_j dS_ij · k_j                                (bwd_dq: one owner per query)
//     dk_j  = s · Σ_i dS_ij · q_i     dv_j = Σ_i P_ij · dO_i     (bwd_dkv: one owner per key)
//   Q_SHARED (flag): the same queries for every b (q has Nq rows); then dq_i also sums over b, in
//   the order b = 0 … B−1 inside its one owner.
//
// Layout   q rows b·Nq + i (Q_SHARED: i), k and v rows b·Nk + j; element (row, h, c) of a view at
//          row·stride + offset + h·DH + c (q, k, v may be column blocks of one qkv tensor).
//          o and dO (B·Nq, H·DH) with row stride o_stride; lse and D (B, H, Nq) f32; o, dO, lse and
//          D start at o_offset, do_offset, lse_offset, d_offset (a batch split over dispatches binds
//          views from aligned elements). g1 (dq, or dk) and g2 (dv) are views like q (stride,
//          offset); DV_IN_G1 (flag): dv is written through the g1 binding at g2's stride and offset
//          (dk and dv in one tensor: one writable binding). Accumulate flags: g += …, else g = ….
//
// Threads  forward, bwd_dq and bwd_dkv share the mappings below. Owner rows are the rows whose
//          outputs an invocation owns (forward, bwd_dq: queries; bwd_dkv: keys), the stream what
//          each owner loops over (keys; bwd_dkv: queries, with their dO, lse and D). Grid x: block
//          of owner rows, y: b·H + h (bwd_dq with Q_SHARED: y = h). Owner rows and accumulators
//          stay in registers (the inner loops are unrolled over QL and DV); past the end an owner
//          repeats the last row and is not stored. Softmax in base 2 (q or k pre-scaled by
//          s·log2 e) with the lazily moved reference maximum of attention.wgsl (rescale only when
//          a score exceeds it by 8). Every output element has exactly one writer: no atomics, the
//          same bits on every run.
//  SUBGROUP_TILE (needs the `subgroups` feature; the fast path on llvmpipe): WG = R invocations
//          (a multiple of the largest subgroup), S = 1; invocation lid owns the QL owner rows
//          r + R·t (t < QL, r = lid). The stream goes in blocks of the subgroup size sg (the
//          builtin): lane l loads stream row j0 + l (every lane a distinct row), then for each row
//          jr of the block all lanes take its vec4s by subgroupShuffle. No workgroup memory.
//  shared (otherwise): WG = R·S invocations; lid = s·R + r owns the QL owner rows r + R·t and
//          processes the stream rows s, s + S, s + 2S, … of every tile. S > 1 splits the stream
//          over S invocations per owner (few owners, many stream rows: the single-query readout on
//          GPUs); their partial results (m, l, o) or sums are combined through workgroup memory in
//          the fixed order s = 0, 1, …, S − 1 by the s = 0 invocation, which alone writes. The
//          stream goes through workgroup memory in tiles of KB rows, staged by all invocations
//          (consecutive invocations load consecutive elements; converted to f32 once); rows are RS
//          vec4s apart (DV + 1 when S > 1, so that invocations reading different rows hit different
//          banks).
//  bwd_preprocess: one invocation per (row, head), 64 per workgroup, grid folded to 2-D.
// Workgroup memory (shared) tk, tv: KB·RS vec4<f32> each (K and V tiles; bwd_dkv: q and dO
//          tiles), ts: KB vec2 (bwd_dkv: lse·log2 e and D of the tile's queries), cm: R·QL vec2
//          (the (m, l) of a split being combined); the combine reuses tk and tv (R·QL ≤ KB). The
//          subgroup tile declares them with KB = 1.
// OPAQUE_LOOPS (software adapters): loops that fill or drain private arrays keep a bound the
// compiler cannot see (DV + opaque + 1, opaque = 0xFFFFFFFF): unrolled, each storage access
// becomes per-lane guarded code on llvmpipe (tens of seconds of compile at d 64–256).
//
// VEC4: every stride and offset is a multiple of 4 elements; q, k, v, dO, o, g1, g2 are then read
// and written as vec4s (a quarter of the guarded loads on llvmpipe; unaligned views take scalars).
//
// Variants F16 (storage), DH (head dim, a multiple of 4, ≤ 256) and DV = DH / 4, SUBGROUP_TILE,
//          OPAQUE_LOOPS, VEC4, QL, R, S, KB, RS (defines; WG = R·S). No overrides.

#include "lib/float.wgsl"

struct Params {
    batch: u32,       // B
    queries: u32,     // Nq
    keys: u32,        // Nk
    heads: u32,       // H
    q_stride: u32,
    q_offset: u32,
    k_stride: u32,
    k_offset: u32,
    v_stride: u32,
    v_offset: u32,
    o_stride: u32,    // row stride of o and dO (H·DH)
    o_offset: u32,    // first element of o, of dO, of lse, of D (batch chunks bind aligned views)
    do_offset: u32,
    lse_offset: u32,
    d_offset: u32,
    g1_stride: u32,   // dq (bwd_dq) or dk (bwd_dkv)
    g1_offset: u32,
    g2_stride: u32,   // dv (bwd_dkv)
    g2_offset: u32,
    scale: f32,       // s
    scale_log2: f32,  // s · log2 e
    flags: u32,       // 1: Q_SHARED, 2: accumulate into g1, 4: accumulate into g2, 8: DV_IN_G1
    rows: u32,        // bwd_preprocess: B·Nq·H invocations
    opaque: u32,      // always 0xFFFFFFFF: keeps loops rolled
};

#ifdef VEC4
// Every view's stride and offset is a multiple of 4 elements (the wrapper checks): vec4 accesses.
@group(0) @binding(0) var<storage, read> q: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<T>>;
@group(0) @binding(3) var<storage, read> dout: array<vec4<T>>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4<T>>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> g1: array<vec4<T>>;
@group(0) @binding(8) var<storage, read_write> g2: array<vec4<T>>;
#else
@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> k: array<T>;
@group(0) @binding(2) var<storage, read> v: array<T>;
@group(0) @binding(3) var<storage, read> dout: array<T>;
@group(0) @binding(4) var<storage, read_write> o: array<T>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> g1: array<T>;
@group(0) @binding(8) var<storage, read_write> g2: array<T>;
#endif
@group(0) @binding(9) var<uniform> params: Params;

const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;
const FLAG_Q_SHARED: u32 = 1u;
const FLAG_ACC_G1: u32 = 2u;
const FLAG_ACC_G2: u32 = 4u;
const FLAG_DV_IN_G1: u32 = 8u;
const WG: u32 = R * S;

var<workgroup> tk: array<vec4<f32>, KB * RS>;
var<workgroup> tv: array<vec4<f32>, KB * RS>;
var<workgroup> ts: array<vec2<f32>, KB>;
var<workgroup> cm: array<vec2<f32>, R * QL>;

// Four consecutive elements from element i (a multiple of 4 with VEC4), as f32.
fn ld_q(i: u32) -> vec4<f32> {
#ifdef VEC4
    return vec4<f32>(q[i / 4u]);
#else
    return vec4<f32>(f32(q[i]), f32(q[i + 1u]), f32(q[i + 2u]), f32(q[i + 3u]));
#endif
}

fn ld_k(i: u32) -> vec4<f32> {
#ifdef VEC4
    return vec4<f32>(k[i / 4u]);
#else
    return vec4<f32>(f32(k[i]), f32(k[i + 1u]), f32(k[i + 2u]), f32(k[i + 3u]));
#endif
}

fn ld_v(i: u32) -> vec4<f32> {
#ifdef VEC4
    return vec4<f32>(v[i / 4u]);
#else
    return vec4<f32>(f32(v[i]), f32(v[i + 1u]), f32(v[i + 2u]), f32(v[i + 3u]));
#endif
}

fn ld_do(i: u32) -> vec4<f32> {
#ifdef VEC4
    return vec4<f32>(dout[i / 4u]);
#else
    return vec4<f32>(f32(dout[i]), f32(dout[i + 1u]), f32(dout[i + 2u]), f32(dout[i + 3u]));
#endif
}

fn ld_o(i: u32) -> vec4<f32> {
#ifdef VEC4
    return vec4<f32>(o[i / 4u]);
#else
    return vec4<f32>(f32(o[i]), f32(o[i + 1u]), f32(o[i + 2u]), f32(o[i + 3u]));
#endif
}

fn st_o(i: u32, x: vec4<f32>) {
#ifdef VEC4
    o[i / 4u] = vec4<T>(x);
#else
    o[i] = T(x.x);
    o[i + 1u] = T(x.y);
    o[i + 2u] = T(x.z);
    o[i + 3u] = T(x.w);
#endif
}

// g1[i … i+3] = x (+ the old values when acc).
fn st_g1(i: u32, x: vec4<f32>, acc: bool) {
#ifdef VEC4
    var y = x;
    if (acc) {
        y += vec4<f32>(g1[i / 4u]);
    }
    g1[i / 4u] = vec4<T>(y);
#else
    var y = x;
    if (acc) {
        y += vec4<f32>(f32(g1[i]), f32(g1[i + 1u]), f32(g1[i + 2u]), f32(g1[i + 3u]));
    }
    g1[i] = T(y.x);
    g1[i + 1u] = T(y.y);
    g1[i + 2u] = T(y.z);
    g1[i + 3u] = T(y.w);
#endif
}

fn st_g2(i: u32, x: vec4<f32>, acc: bool) {
#ifdef VEC4
    var y = x;
    if (acc) {
        y += vec4<f32>(g2[i / 4u]);
    }
    g2[i / 4u] = vec4<T>(y);
#else
    var y = x;
    if (acc) {
        y += vec4<f32>(f32(g2[i]), f32(g2[i + 1u]), f32(g2[i + 2u]), f32(g2[i + 3u]));
    }
    g2[i] = T(y.x);
    g2[i + 1u] = T(y.y);
    g2[i + 2u] = T(y.z);
    g2[i + 3u] = T(y.w);
#endif
}

// First element of head h of query i of problem b in q (Q_SHARED: row i for every b).
fn q_at(b: u32, i: u32, h: u32) -> u32 {
    var row = b * params.queries + i;
    if ((params.flags & FLAG_Q_SHARED) != 0u) {
        row = i;
    }
    return row * params.q_stride + params.q_offset + h * DH;
}

fn k_at(b: u32, j: u32, h: u32) -> u32 {
    return (b * params.keys + j) * params.k_stride + params.k_offset + h * DH;
}

fn v_at(b: u32, j: u32, h: u32) -> u32 {
    return (b * params.keys + j) * params.v_stride + params.v_offset + h * DH;
}

fn o_at(b: u32, i: u32, h: u32) -> u32 {
    return (b * params.queries + i) * params.o_stride + params.o_offset + h * DH;
}

fn do_at(b: u32, i: u32, h: u32) -> u32 {
    return (b * params.queries + i) * params.o_stride + params.do_offset + h * DH;
}

// Index of (b, h, i) in lse, and in D.
fn lse_at(b: u32, i: u32, h: u32) -> u32 {
    return (b * params.heads + h) * params.queries + i + params.lse_offset;
}

fn d_at(b: u32, i: u32, h: u32) -> u32 {
    return (b * params.heads + h) * params.queries + i + params.d_offset;
}

// Stages stream rows j0 … j0 + nv − 1 of problem b: keys (tk) and values (tv).
fn stage_kv(b: u32, h: u32, j0: u32, nv: u32, lid: u32) {
    for (var e = lid; e < nv * DV; e += WG) {
        let jr = e / DV;
        let c = e - jr * DV;
        tk[jr * RS + c] = ld_k(k_at(b, j0 + jr, h) + 4u * c);
        tv[jr * RS + c] = ld_v(v_at(b, j0 + jr, h) + 4u * c);
    }
}

// ---------------------------------------------------------------------------------------- forward

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32
#ifdef SUBGROUP_TILE
        , @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32
#endif
        ) {
    let bh = wg.y;
    let b = bh / params.heads;
    let h = bh - b * params.heads;
    let s = lid / R;
    let r = lid - s * R;
    let i0 = wg.x * R * QL + r;   // owner t: query i0 + R·t
    let nq = params.queries;
    let nk = params.keys;
#ifdef OPAQUE_LOOPS
    let dv = DV + (params.opaque + 1u);
    let ql = QL + (params.opaque + 1u);
#else
    let dv = DV;
    let ql = QL;
#endif

    var qa: array<vec4<f32>, QL * DV>;   // qa[t·DV + c]: query t, dims 4c … 4c+3, times s·log2 e
    var oa: array<vec4<f32>, QL * DV>;   // output accumulators, same layout
    var m: array<f32, QL>;               // reference maximum (base 2), within 8 of the running max
    var l: array<f32, QL>;               // Σ exp2(S − m)
    for (var t = 0u; t < ql; t++) {
        let base = q_at(b, min(i0 + R * t, nq - 1u), h);
        for (var c = 0u; c < dv; c++) {
            qa[t * DV + c] = ld_q(base + 4u * c) * params.scale_log2;
            oa[t * DV + c] = vec4<f32>(0.0);
        }
        m[t] = -3.0e38;
        l[t] = 0.0;
    }

#ifdef SUBGROUP_TILE
    var ka: array<vec4<f32>, DV>;   // key row j0 + lane
    var va: array<vec4<f32>, DV>;   // value row j0 + lane
    for (var j0 = 0u; j0 < nk; j0 += sg) {
        let kb = k_at(b, min(j0 + lane, nk - 1u), h);
        let vb = v_at(b, min(j0 + lane, nk - 1u), h);
        for (var c = 0u; c < dv; c++) {
            ka[c] = ld_k(kb + 4u * c);
            va[c] = ld_v(vb + 4u * c);
        }
        let nv = min(sg, nk - j0);
        for (var jr = 0u; jr < nv; jr++) {
#else
    for (var j0 = 0u; j0 < nk; j0 += KB) {
        let nv = min(KB, nk - j0);
        workgroupBarrier();
        stage_kv(b, h, j0, nv, lid);
        workgroupBarrier();
        for (var jr = s; jr < nv; jr += S) {
#endif
            var sc = array<f32, QL>();
#unroll c 0 DV
            {
#ifdef SUBGROUP_TILE
                let kc = subgroupShuffle(ka[c], jr);
#else
                let kc = tk[jr * RS + c];
#endif
#unroll t 0 QL
                sc[t] += dot(qa[t * DV + c], kc);
#endunroll
            }
#endunroll
#unroll t 0 QL
            if (sc[t] > m[t] + 8.0) {
                let alpha = exp2(m[t] - sc[t]);
                l[t] *= alpha;
#unroll c 0 DV
                oa[t * DV + c] *= alpha;
#endunroll
                m[t] = sc[t];
            }
            sc[t] = exp2(sc[t] - m[t]);
            l[t] += sc[t];
#endunroll
#unroll c 0 DV
            {
#ifdef SUBGROUP_TILE
                let vc = subgroupShuffle(va[c], jr);
#else
                let vc = tv[jr * RS + c];
#endif
#unroll t 0 QL
                oa[t * DV + c] = fma(vec4<f32>(sc[t]), vc, oa[t * DV + c]);
#endunroll
            }
#endunroll
        }
    }

    // Combine the S splits of each owner in the order s = 0, 1, …, S − 1 (in the s = 0 invocation).
    for (var sp = 1u; sp < S; sp++) {
        workgroupBarrier();
        if (s == sp) {
            for (var t = 0u; t < ql; t++) {
                let slot = r * QL + t;
                cm[slot] = vec2<f32>(m[t], l[t]);
                for (var c = 0u; c < dv; c++) {
                    tk[slot * DV + c] = oa[t * DV + c];
                }
            }
        }
        workgroupBarrier();
        if (s == 0u) {
            for (var t = 0u; t < ql; t++) {
                let slot = r * QL + t;
                let part = cm[slot];
                let mm = max(m[t], part.x);
                let a0 = exp2(m[t] - mm);
                let a1 = exp2(part.x - mm);
                l[t] = l[t] * a0 + part.y * a1;
                m[t] = mm;
                for (var c = 0u; c < dv; c++) {
                    oa[t * DV + c] = oa[t * DV + c] * a0 + tk[slot * DV + c] * a1;
                }
            }
        }
    }

    if (s == 0u) {
        for (var t = 0u; t < ql; t++) {
            let i = i0 + R * t;
            if (i < nq) {
                let inv = 1.0 / l[t];
                let base = o_at(b, i, h);
                for (var c = 0u; c < dv; c++) {
                    st_o(base + 4u * c, oa[t * DV + c] * inv);
                }
                lse[lse_at(b, i, h)] = (m[t] + log2(l[t])) * LN2;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------- D

@compute @workgroup_size(64)
fn bwd_preprocess(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = (wg.y * 65535u + wg.x) * 64u + lid;   // (b·Nq + i)·H + h
    if (n >= params.rows) {
        return;
    }
    let row = n / params.heads;
    let h = n - row * params.heads;
    let b = row / params.queries;
    let i = row - b * params.queries;
    let ob = o_at(b, i, h);
    let gb = do_at(b, i, h);
#ifdef OPAQUE_LOOPS
    let dv = DV + (params.opaque + 1u);
#else
    let dv = DV;
#endif
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < dv; c++) {
        acc = fma(ld_do(gb + 4u * c), ld_o(ob + 4u * c), acc);
    }
    delta[d_at(b, i, h)] = acc.x + acc.y + acc.z + acc.w;
}

// ---------------------------------------------------------------------------------------- dq

@compute @workgroup_size(WG)
fn bwd_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32
#ifdef SUBGROUP_TILE
        , @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32
#endif
        ) {
    let shared_q = (params.flags & FLAG_Q_SHARED) != 0u;
    var b_lo = wg.y / params.heads;
    var h = wg.y - b_lo * params.heads;
    var b_hi = b_lo + 1u;
    if (shared_q) {
        b_lo = 0u;
        b_hi = params.batch;
        h = wg.y;
    }
    let s = lid / R;
    let r = lid - s * R;
    let i0 = wg.x * R * QL + r;
    let nq = params.queries;
    let nk = params.keys;
#ifdef OPAQUE_LOOPS
    let dv = DV + (params.opaque + 1u);
    let ql = QL + (params.opaque + 1u);
#else
    let dv = DV;
    let ql = QL;
#endif

    var qa: array<vec4<f32>, QL * DV>;   // q times s·log2 e
    var ga: array<vec4<f32>, QL * DV>;   // dO of problem b
    var acc: array<vec4<f32>, QL * DV>;  // Σ dS · k
    var lse2: array<f32, QL>;            // lse · log2 e of problem b
    var dd: array<f32, QL>;              // D of problem b
#ifdef SUBGROUP_TILE
    var ka: array<vec4<f32>, DV>;        // key row j0 + lane
    var va: array<vec4<f32>, DV>;        // value row j0 + lane
#endif
    for (var t = 0u; t < ql; t++) {
        let base = q_at(b_lo, min(i0 + R * t, nq - 1u), h);
        for (var c = 0u; c < dv; c++) {
            qa[t * DV + c] = ld_q(base + 4u * c) * params.scale_log2;
            acc[t * DV + c] = vec4<f32>(0.0);
        }
    }

    for (var b = b_lo; b < b_hi; b++) {
        for (var t = 0u; t < ql; t++) {
            let i = min(i0 + R * t, nq - 1u);
            let base = do_at(b, i, h);
            for (var c = 0u; c < dv; c++) {
                ga[t * DV + c] = ld_do(base + 4u * c);
            }
            lse2[t] = lse[lse_at(b, i, h)] * LOG2E;
            dd[t] = delta[d_at(b, i, h)];
        }
#ifdef SUBGROUP_TILE
        for (var j0 = 0u; j0 < nk; j0 += sg) {
            let kb = k_at(b, min(j0 + lane, nk - 1u), h);
            let vb = v_at(b, min(j0 + lane, nk - 1u), h);
            for (var c = 0u; c < dv; c++) {
                ka[c] = ld_k(kb + 4u * c);
                va[c] = ld_v(vb + 4u * c);
            }
            let nv = min(sg, nk - j0);
            for (var jr = 0u; jr < nv; jr++) {
#else
        for (var j0 = 0u; j0 < nk; j0 += KB) {
            let nv = min(KB, nk - j0);
            workgroupBarrier();
            stage_kv(b, h, j0, nv, lid);
            workgroupBarrier();
            for (var jr = s; jr < nv; jr += S) {
#endif
                var sc = array<f32, QL>();
                var dp = array<f32, QL>();
#unroll c 0 DV
                {
#ifdef SUBGROUP_TILE
                    let kc = subgroupShuffle(ka[c], jr);
#else
                    let kc = tk[jr * RS + c];
#endif
#ifdef SUBGROUP_TILE
                    let vc = subgroupShuffle(va[c], jr);
#else
                    let vc = tv[jr * RS + c];
#endif
#unroll t 0 QL
                    sc[t] += dot(qa[t * DV + c], kc);
                    dp[t] += dot(ga[t * DV + c], vc);
#endunroll
                }
#endunroll
#unroll t 0 QL
                sc[t] = exp2(sc[t] - lse2[t]) * (dp[t] - dd[t]);
#endunroll
#unroll c 0 DV
                {
#ifdef SUBGROUP_TILE
                    let kc = subgroupShuffle(ka[c], jr);
#else
                    let kc = tk[jr * RS + c];
#endif
#unroll t 0 QL
                    acc[t * DV + c] = fma(vec4<f32>(sc[t]), kc, acc[t * DV + c]);
#endunroll
                }
#endunroll
            }
        }
    }

    for (var sp = 1u; sp < S; sp++) {
        workgroupBarrier();
        if (s == sp) {
            for (var t = 0u; t < ql; t++) {
                for (var c = 0u; c < dv; c++) {
                    tk[(r * QL + t) * DV + c] = acc[t * DV + c];
                }
            }
        }
        workgroupBarrier();
        if (s == 0u) {
            for (var t = 0u; t < ql; t++) {
                for (var c = 0u; c < dv; c++) {
                    acc[t * DV + c] += tk[(r * QL + t) * DV + c];
                }
            }
        }
    }

    if (s == 0u) {
        let accumulate = (params.flags & FLAG_ACC_G1) != 0u;
        for (var t = 0u; t < ql; t++) {
            let i = i0 + R * t;
            if (i < nq) {
                var row = b_lo * nq + i;
                if (shared_q) {
                    row = i;
                }
                let base = row * params.g1_stride + params.g1_offset + h * DH;
                for (var c = 0u; c < dv; c++) {
                    st_g1(base + 4u * c, acc[t * DV + c] * params.scale, accumulate);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------- dk, dv

@compute @workgroup_size(WG)
fn bwd_dkv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32
#ifdef SUBGROUP_TILE
        , @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32
#endif
        ) {
    let bh = wg.y;
    let b = bh / params.heads;
    let h = bh - b * params.heads;
    let s = lid / R;
    let r = lid - s * R;
    let j0w = wg.x * R * QL + r;   // owner t: key j0w + R·t
    let nq = params.queries;
    let nk = params.keys;
#ifdef OPAQUE_LOOPS
    let dv = DV + (params.opaque + 1u);
    let ql = QL + (params.opaque + 1u);
#else
    let dv = DV;
    let ql = QL;
#endif

    var ka: array<vec4<f32>, QL * DV>;   // k times s·log2 e
    var va: array<vec4<f32>, QL * DV>;
    var dka: array<vec4<f32>, QL * DV>;  // Σ dS · q
    var dva: array<vec4<f32>, QL * DV>;  // Σ P · dO
    for (var t = 0u; t < ql; t++) {
        let j = min(j0w + R * t, nk - 1u);
        let kb = k_at(b, j, h);
        let vb = v_at(b, j, h);
        for (var c = 0u; c < dv; c++) {
            ka[t * DV + c] = ld_k(kb + 4u * c) * params.scale_log2;
            va[t * DV + c] = ld_v(vb + 4u * c);
            dka[t * DV + c] = vec4<f32>(0.0);
            dva[t * DV + c] = vec4<f32>(0.0);
        }
    }

#ifdef SUBGROUP_TILE
    var qs: array<vec4<f32>, DV>;   // query row i0 + lane
    var gs: array<vec4<f32>, DV>;   // its dO row
    for (var i0 = 0u; i0 < nq; i0 += sg) {
        let il = min(i0 + lane, nq - 1u);
        let qb = q_at(b, il, h);
        let gb = do_at(b, il, h);
        for (var c = 0u; c < dv; c++) {
            qs[c] = ld_q(qb + 4u * c);
            gs[c] = ld_do(gb + 4u * c);
        }
        let st_lane = vec2<f32>(lse[lse_at(b, il, h)] * LOG2E, delta[d_at(b, il, h)]);
        let nv = min(sg, nq - i0);
        for (var ir = 0u; ir < nv; ir++) {
            let st = subgroupShuffle(st_lane, ir);
#else
    for (var i0 = 0u; i0 < nq; i0 += KB) {
        let nv = min(KB, nq - i0);
        workgroupBarrier();
        for (var e = lid; e < nv * DV; e += WG) {
            let ir = e / DV;
            let c = e - ir * DV;
            tk[ir * RS + c] = ld_q(q_at(b, i0 + ir, h) + 4u * c);
            tv[ir * RS + c] = ld_do(do_at(b, i0 + ir, h) + 4u * c);
        }
        for (var ir = lid; ir < nv; ir += WG) {
            ts[ir] = vec2<f32>(lse[lse_at(b, i0 + ir, h)] * LOG2E, delta[d_at(b, i0 + ir, h)]);
        }
        workgroupBarrier();
        for (var ir = s; ir < nv; ir += S) {
            let st = ts[ir];
#endif
            var sc = array<f32, QL>();
            var dp = array<f32, QL>();
#unroll c 0 DV
            {
#ifdef SUBGROUP_TILE
                let qc = subgroupShuffle(qs[c], ir);
#else
                let qc = tk[ir * RS + c];
#endif
#ifdef SUBGROUP_TILE
                let gc = subgroupShuffle(gs[c], ir);
#else
                let gc = tv[ir * RS + c];
#endif
#unroll t 0 QL
                sc[t] += dot(ka[t * DV + c], qc);
                dp[t] += dot(va[t * DV + c], gc);
#endunroll
            }
#endunroll
#unroll t 0 QL
            sc[t] = exp2(sc[t] - st.x);        // P
            dp[t] = sc[t] * (dp[t] - st.y);    // dS
#endunroll
#unroll c 0 DV
            {
#ifdef SUBGROUP_TILE
                let qc = subgroupShuffle(qs[c], ir);
#else
                let qc = tk[ir * RS + c];
#endif
#ifdef SUBGROUP_TILE
                let gc = subgroupShuffle(gs[c], ir);
#else
                let gc = tv[ir * RS + c];
#endif
#unroll t 0 QL
                dva[t * DV + c] = fma(vec4<f32>(sc[t]), gc, dva[t * DV + c]);
                dka[t * DV + c] = fma(vec4<f32>(dp[t]), qc, dka[t * DV + c]);
#endunroll
            }
#endunroll
        }
    }

    for (var sp = 1u; sp < S; sp++) {
        workgroupBarrier();
        if (s == sp) {
            for (var t = 0u; t < ql; t++) {
                for (var c = 0u; c < dv; c++) {
                    tk[(r * QL + t) * DV + c] = dka[t * DV + c];
                    tv[(r * QL + t) * DV + c] = dva[t * DV + c];
                }
            }
        }
        workgroupBarrier();
        if (s == 0u) {
            for (var t = 0u; t < ql; t++) {
                for (var c = 0u; c < dv; c++) {
                    dka[t * DV + c] += tk[(r * QL + t) * DV + c];
                    dva[t * DV + c] += tv[(r * QL + t) * DV + c];
                }
            }
        }
    }

    if (s == 0u) {
        let acc1 = (params.flags & FLAG_ACC_G1) != 0u;
        let acc2 = (params.flags & FLAG_ACC_G2) != 0u;
        let dv_in_g1 = (params.flags & FLAG_DV_IN_G1) != 0u;
        for (var t = 0u; t < ql; t++) {
            let j = j0w + R * t;
            if (j < nk) {
                let row = b * nk + j;
                let b1 = row * params.g1_stride + params.g1_offset + h * DH;
                let b2 = row * params.g2_stride + params.g2_offset + h * DH;
                for (var c = 0u; c < dv; c++) {
                    st_g1(b1 + 4u * c, dka[t * DV + c] * params.scale, acc1);
                    if (dv_in_g1) {
                        st_g1(b2 + 4u * c, dva[t * DV + c], acc2);
                    } else {
                        st_g2(b2 + 4u * c, dva[t * DV + c], acc2);
                    }
                }
            }
        }
    }
}
