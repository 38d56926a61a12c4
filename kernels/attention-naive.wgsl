// attention-naive.wgsl — the data movement of the unfused attention baseline (src/kernels/attention-naive.ts):
// windows are packed into dense per-(window, head) matrices, the matmul and softmax families do the math,
// and the result is scattered back.
//
//   GATHER   dst[z, n, d] = src[row(z, n)·stride + offset + h·DH + d] · scale      (Zc, Nw, DH)
//   BIAS     dst[z, i, j] = table[idx(i, j)·NH + h] · scale                        (Zc, Nw, Nw)
//   SCATTER  dst[row(z, n)·stride + offset + h·DH + d] = src[z, n, d]
//   for the packed index z = z0 + local z, z = (b·windows + w)·NH + h; row(z, n) is the latent row of the
//   window-local token n; idx(i, j) is the Swin 3-D relative position index (see attention.wgsl).
//
// Layout   tokens (b, t, y, x) row-major over the latent (B, T, H, W); packed tensors are contiguous.
// Threads  one invocation per destination element (GATHER, BIAS) or source element (SCATTER), WG per
//          workgroup, workgroups folded into 2-D (x + 65535·y).
// Variants F16 (storage), GATHER / BIAS / SCATTER (the operation).  Override WG.

#include "lib/float.wgsl"

struct Params {
    lat_t: u32,
    lat_h: u32,
    lat_w: u32,
    win_t: u32,
    win_h: u32,
    win_w: u32,
    heads: u32,       // NH
    head_dim: u32,    // DH
    stride: u32,      // row stride of the strided side (src for GATHER, dst for SCATTER)
    offset: u32,      // column offset of head 0 on the strided side
    windows: u32,     // windows per clip
    z0: u32,          // first packed (window, head) index of this chunk
    count: u32,       // elements of this dispatch
    scale: f32,       // GATHER, BIAS: multiplies the values
};

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read> table: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 64;

#include "lib/window.wgsl"

// Latent row of window-local token n of flat window b·windows + w; local (t, y, x) in .yzw.
fn token_of(wflat: u32, n: u32) -> vec4<u32> {
    let w = window_of(wflat);
    let lt = n / (params.win_h * params.win_w);
    let ly = (n / params.win_w) % params.win_h;
    let lx = n % params.win_w;
    let row = ((w.b * params.lat_t + w.t0 + lt) * params.lat_h + w.y0 + ly) * params.lat_w + w.x0 + lx;
    return vec4<u32>(row, lt, ly, lx);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = (wg.x + 65535u * wg.y) * WG + lid;
    if (e >= params.count) {
        return;
    }
    let nw = params.win_t * params.win_h * params.win_w;
#ifdef BIAS
    let z = params.z0 + e / (nw * nw);
    let h = z % params.heads;
    let i = token_of(0u, (e / nw) % nw);
    let j = token_of(0u, e % nw);
    let idx = ((i.y + params.win_t - 1u - j.y) * (2u * params.win_h - 1u) + (i.z + params.win_h - 1u - j.z))
        * (2u * params.win_w - 1u) + (i.w + params.win_w - 1u - j.w);
    dst[e] = T(f32(table[idx * params.heads + h]) * params.scale);
#else
    let dh = params.head_dim;
    let z = params.z0 + e / (nw * dh);
    let h = z % params.heads;
    let row = token_of(z / params.heads, (e / dh) % nw).x;
    let at = row * params.stride + params.offset + h * dh + e % dh;
#ifdef GATHER
    dst[e] = T(f32(src[at]) * params.scale);
#else
    dst[at] = src[e];
#endif
#endif
}
