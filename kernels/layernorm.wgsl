// layernorm.wgsl — LayerNorm over the last dimension, f32 statistics, optional affine or
// AdaLN modulation, strided input rows (qk-norm reads heads straight out of a qkv tensor).
//
//   y[r, c] = out_scale · ( (x[r, c] − μ_r) · rstd_r · w[c] + b[c] )              (AFFINE_W, AFFINE_B)
//   y[r, c] = out_scale · ( (x[r, c] − μ_r) · rstd_r · (1 + γ[s, c]) + β[s, c] )  (MODULATE; s = r / rows_per_sample,
//             γ at mod[s * mod_stride + gamma_offset + c], β at mod[s * mod_stride + beta_offset + c])
//   μ_r, rstd_r = mean and 1/sqrt(biased var + eps) of row r (one pass of shifted sums:
//   Σ(x − x₀), Σ(x − x₀)², x₀ = the row's first value, so no catastrophic cancellation).
//
// Layout   input row r starts at x_offset + (r / rows_inner) · outer_stride + (r % rows_inner) · inner_stride;
//          output y is contiguous (rows, C).
//          Plain rows: rows_inner = 1, outer_stride = C.  qk-norm of q in qkv (N, 3·D) with NH heads of
//          dh: rows = N·NH, C = dh, rows_inner = NH, inner_stride = dh, outer_stride = 3·D, x_offset 0 (q) or D (k).
// Threads  ROW_PER_THREAD: one invocation per row (small C). Otherwise one workgroup per row,
//          WG invocations striding over C, tree reduction (lib/reduce.wgsl). 2-D dispatch fold.
// Variants F16 (storage), AFFINE_W, AFFINE_B, MODULATE, ROW_PER_THREAD.  Override WG.

#include "lib/float.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    rows_inner: u32,
    inner_stride: u32,
    outer_stride: u32,
    x_offset: u32,
    rows_per_sample: u32,
    mod_stride: u32,
    gamma_offset: u32,
    beta_offset: u32,
    eps: f32,
    out_scale: f32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;     // AFFINE_W weight, or MODULATE table
@group(0) @binding(2) var<storage, read> bias: array<T>;  // AFFINE_B bias
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> params: Params;

override WG: u32 = 64;

#include "lib/reduce.wgsl"

fn row_start(r: u32) -> u32 {
    return params.x_offset + (r / params.rows_inner) * params.outer_stride + (r % params.rows_inner) * params.inner_stride;
}

fn normalize_store(r: u32, c: u32, v: f32, mean: f32, rstd: f32) {
    var h = (v - mean) * rstd;
#ifdef MODULATE
    let s = r / params.rows_per_sample;
    let m = s * params.mod_stride;
    h = h * (1.0 + f32(w[m + params.gamma_offset + c])) + f32(w[m + params.beta_offset + c]);
#else
#ifdef AFFINE_W
    h = h * f32(w[c]);
#endif
#ifdef AFFINE_B
    h = h + f32(bias[c]);
#endif
#endif
    y[r * params.cols + c] = T(h * params.out_scale);
}

#ifdef ROW_PER_THREAD
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wg.y * 65535u + wg.x) * WG + lid;
    if (r >= params.rows) {
        return;
    }
    let base = row_start(r);
    let x0 = f32(x[base]);
    var s = 0.0;
    var ss = 0.0;
    for (var c = 0u; c < params.cols; c++) {
        let d = f32(x[base + c]) - x0;
        s += d;
        ss += d * d;
    }
    let n = f32(params.cols);
    let md = s / n;
    let mean = x0 + md;
    let rstd = inverseSqrt(max(ss / n - md * md, 0.0) + params.eps);
    for (var c = 0u; c < params.cols; c++) {
        normalize_store(r, c, f32(x[base + c]), mean, rstd);
    }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.y * 65535u + wg.x;
    if (r >= params.rows) {
        return;   // uniform per workgroup: the barriers below stay in uniform control flow
    }
    let base = row_start(r);
    let x0 = f32(x[base]);
    var part = vec2<f32>(0.0);
    for (var c = lid; c < params.cols; c += WG) {
        let d = f32(x[base + c]) - x0;
        part += vec2<f32>(d, d * d);
    }
    let tot = wg_sum2(part, lid);
    let n = f32(params.cols);
    let md = tot.x / n;
    let mean = x0 + md;
    let rstd = inverseSqrt(max(tot.y / n - md * md, 0.0) + params.eps);
    for (var c = lid; c < params.cols; c += WG) {
        normalize_store(r, c, f32(x[base + c]), mean, rstd);
    }
}
#endif
