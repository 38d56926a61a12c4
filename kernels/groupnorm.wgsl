// groupnorm.wgsl — GroupNorm with per-frame statistics, fused with swish (MAGVIT-style encoder).
//
//   stats[t, g] = (μ, rstd) over the (H·W pixels × C/G contiguous channels) of frame t, group g,
//                 rstd = 1/sqrt(biased var + eps), shifted one-pass sums in f32.
//   y[t, p, c]  = swish?( (x[t, p, c] − μ[t, g(c)]) · rstd[t, g(c)] · γ[c] + β[c] ),  g(c) = c / (C/G)
//
// Layout   x, y (T, H·W, C) channels-last, contiguous. stats (T_total, G, 2) f32; the bound x may be
//          a chunk of frames starting at frame t0 of the whole tensor (stats rows t0 + t).
// Threads  entry `stats`: one workgroup per (t, g) = (wg.x, wg.y), WG invocations striding over the
//          group's H·W·C/G values, tree reduction. Entry `apply`: one invocation per element (2-D fold).
// Variants F16 (x, y, γ, β storage), SWISH.  Override WG.

#include "lib/float.wgsl"

struct Params {
    frames: u32,     // frames in this chunk
    pixels: u32,     // H·W
    channels: u32,   // C
    groups: u32,     // G
    t0: u32,         // first frame of the chunk in the stats table
    eps: f32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read> beta: array<T>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> params: Params;

override WG: u32 = 64;

#include "lib/reduce.wgsl"

@compute @workgroup_size(WG)
fn stats_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wg.x;
    let g = wg.y;
    let cg = params.channels / params.groups;
    let count = params.pixels * cg;
    let frame = t * params.pixels * params.channels;
    let c0 = g * cg;
    let x0 = f32(x[frame + c0]);
    var part = vec2<f32>(0.0);
    for (var e = lid; e < count; e += WG) {
        let p = e / cg;
        let d = f32(x[frame + p * params.channels + c0 + e % cg]) - x0;
        part += vec2<f32>(d, d * d);
    }
    let tot = wg_sum2(part, lid);
    if (lid == 0u) {
        let n = f32(count);
        let md = tot.x / n;
        let o = ((params.t0 + t) * params.groups + g) * 2u;
        stats[o] = x0 + md;
        stats[o + 1u] = inverseSqrt(max(tot.y / n - md * md, 0.0) + params.eps);
    }
}

@compute @workgroup_size(WG)
fn apply_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wg.y * 65535u + wg.x) * WG + lid;
    let total = params.frames * params.pixels * params.channels;
    if (i >= total) {
        return;
    }
    let c = i % params.channels;
    let t = i / (params.pixels * params.channels);
    let g = c / (params.channels / params.groups);
    let o = ((params.t0 + t) * params.groups + g) * 2u;
    var h = (f32(x[i]) - stats[o]) * stats[o + 1u] * f32(gamma[c]) + f32(beta[c]);
#ifdef SWISH
    h = h / (1.0 + exp(-h));
#endif
    y[i] = T(h);
}
