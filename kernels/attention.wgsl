// attention.wgsl — fused windowed multi-head attention (flash-style, no score matrix in memory).
//
//   For each clip b, window w, head h and query token i of the window:
//     s_ij = q̂_i · k̂_j · scale + B[h, i, j]            over the keys j of the same window
//     o_i  = Σ_j softmax_j(s_ij) · v_j                   (online softmax in f32, base 2)
//   B[h, i, j] = table[idx(i, j) · NH + h] (Swin 3-D relative position bias, spec §4.5):
//     idx = ((ti − tj + Wt − 1)·(2Wh − 1) + (yi − yj + Wh − 1))·(2Ww − 1) + (xi − xj + Ww − 1)
//   IDENTITY flag (image inputs in spatiotemporal layers, spec §4.5): o_i = v_i.
//   Full attention is the window (T, H, W).
//
// Layout   tokens are (b, t, y, x) row-major over the latent (B, T, H, W); q, k, v are read at
//          row·*_stride + *_offset + h·DH + d (so q̂, k̂ can be their own (tokens, NH, DH) tensors and
//          v a slice of the qkv tensor (tokens, 3D)); o (tokens, NH·DH).
// Threads  one workgroup per (b, window, block of WG queries) × head; one invocation per query.
//          Every invocation of a workgroup walks the same keys, so k_j and v_j loads are uniform
//          (a broadcast on GPUs, scalar loads on llvmpipe); q and the output accumulator live in
//          registers. Keys go in blocks of KB: one running-max rescale per block.
// Memory   registers: 2·DH floats (q, o) + KB scores per invocation; no workgroup memory.
// Variants F16 (storage), DH (head dim, multiple of 4; sizes the register arrays).
// Overrides WG (queries per workgroup), KB (keys per block, ≤ 16).

#ifdef F16
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

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
    q_blocks: u32,     // ceil(Nw / WG)
    windows: u32,      // windows per clip
};

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> k: array<T>;
@group(0) @binding(2) var<storage, read> v: array<T>;
@group(0) @binding(3) var<storage, read> table: array<T>;
@group(0) @binding(4) var<storage, read_write> o: array<T>;
@group(0) @binding(5) var<uniform> params: Params;

override WG: u32 = 32;
override KB: u32 = 8;

const DV: u32 = DH / 4u;   // vec4 groups per head
const LOG2E: f32 = 1.4426950408889634;

fn load4(buf_index: u32, which: u32) -> vec4<f32> {
    // which: 0 = q, 1 = k, 2 = v (separate functions would triple the code; the branch is uniform)
    if (which == 0u) {
        return vec4<f32>(f32(q[buf_index]), f32(q[buf_index + 1u]), f32(q[buf_index + 2u]), f32(q[buf_index + 3u]));
    } else if (which == 1u) {
        return vec4<f32>(f32(k[buf_index]), f32(k[buf_index + 1u]), f32(k[buf_index + 2u]), f32(k[buf_index + 3u]));
    }
    return vec4<f32>(f32(v[buf_index]), f32(v[buf_index + 1u]), f32(v[buf_index + 2u]), f32(v[buf_index + 3u]));
}

// Global token row of window-local index n in window (b, wt, wy, wx); also returns local (t, y, x).
fn token_of(b: u32, wt: u32, wy: u32, wx: u32, n: u32) -> vec4<u32> {
    let lt = n / (params.win_h * params.win_w);
    let ly = (n / params.win_w) % params.win_h;
    let lx = n % params.win_w;
    let row = ((b * params.lat_t + wt * params.win_t + lt) * params.lat_h + wy * params.win_h + ly) * params.lat_w
        + wx * params.win_w + lx;
    return vec4<u32>(row, lt, ly, lx);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wg.y;
    let qb = wg.x % params.q_blocks;
    let wflat = wg.x / params.q_blocks;          // b · windows + window
    let b = wflat / params.windows;
    let wi = wflat % params.windows;
    let nwx = params.lat_w / params.win_w;
    let nwy = params.lat_h / params.win_h;
    let wt = wi / (nwx * nwy);
    let wy = (wi / nwx) % nwy;
    let wx = wi % nwx;
    let nw = params.win_t * params.win_h * params.win_w;

    let qi = min(qb * WG + lid, nw - 1u);        // queries past the window repeat the last (not stored)
    let qtok = token_of(b, wt, wy, wx, qi);
    let hd = h * DH;

    if ((params.flags & 2u) != 0u) {
        if (qb * WG + lid < nw) {
            for (var d = 0u; d < DH; d++) {
                o[qtok.x * params.o_stride + hd + d] = v[qtok.x * params.v_stride + params.v_offset + hd + d];
            }
        }
        return;
    }

    var qv: array<vec4<f32>, DV>;
    var acc: array<vec4<f32>, DV>;
    let qbase = qtok.x * params.q_stride + params.q_offset + hd;
    for (var d = 0u; d < DV; d++) {
        qv[d] = load4(qbase + 4u * d, 0u) * params.scale_log2;
        acc[d] = vec4<f32>(0.0);
    }
    var m = -3.0e38;
    var l = 0.0;
    let use_bias = (params.flags & 1u) != 0u;
    let span_h = 2u * params.win_h - 1u;
    let span_w = 2u * params.win_w - 1u;

    for (var j0 = 0u; j0 < nw; j0 += KB) {
        var s: array<f32, 16>;
        var mb = m;
        for (var jj = 0u; jj < KB; jj++) {
            let j = j0 + jj;
            if (j < nw) {
                let kt = token_of(b, wt, wy, wx, j);
                let kbase = kt.x * params.k_stride + params.k_offset + hd;
                var dot4 = vec4<f32>(0.0);
                for (var d = 0u; d < DV; d++) {
                    dot4 = fma(qv[d], load4(kbase + 4u * d, 1u), dot4);
                }
                var sj = dot4.x + dot4.y + dot4.z + dot4.w;
                if (use_bias) {
                    let idx = ((qtok.y + params.win_t - 1u - kt.y) * span_h + (qtok.z + params.win_h - 1u - kt.z)) * span_w
                        + (qtok.w + params.win_w - 1u - kt.w);
                    sj += f32(table[idx * params.heads + h]) * LOG2E;
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
        for (var d = 0u; d < DV; d++) {
            acc[d] *= alpha;
        }
        m = mb;
        for (var jj = 0u; jj < KB; jj++) {
            let j = j0 + jj;
            if (j < nw) {
                let p = exp2(s[jj] - m);
                l += p;
                let vt = token_of(b, wt, wy, wx, j);
                let vbase = vt.x * params.v_stride + params.v_offset + hd;
                for (var d = 0u; d < DV; d++) {
                    acc[d] = fma(vec4<f32>(p), load4(vbase + 4u * d, 2u), acc[d]);
                }
            }
        }
    }

    if (qb * WG + lid < nw) {
        let inv = 1.0 / l;
        let obase = qtok.x * params.o_stride + hd;
        for (var d = 0u; d < DV; d++) {
            let r = acc[d] * inv;
            o[obase + 4u * d] = T(r.x);
            o[obase + 4u * d + 1u] = T(r.y);
            o[obase + 4u * d + 2u] = T(r.z);
            o[obase + 4u * d + 3u] = T(r.w);
        }
    }
}
