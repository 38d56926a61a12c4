// softmax.wgsl — row softmax with a scale and its backward, f32 math.
//
//   forward (main):      y[r, c]  = exp(s·x[r, c] − m_r) / Σ_c' exp(s·x[r, c'] − m_r)
//   BACKWARD (backward): dx[r, c] = s · y[r, c] · (dy[r, c] − Σ_c' dy[r, c']·y[r, c'])
//                        (+ the old dx[r, c] when `accumulate` is 1)
//
// Layout   x, y, dy, dx (rows, C) contiguous.
// Threads  one workgroup per row (2-D fold), WG invocations striding over C. Forward: a (max, Σexp)
//          tree reduction with the online-softmax merge rule, then a normalising pass. Backward: a
//          tree sum of dy·y (fixed order: the same bits on every run), then the elementwise pass;
//          every dx element has one writer.
// Variants F16 (storage), BACKWARD (the backward's bindings and entry point).  Override WG.

#include "lib/float.wgsl"

#ifdef BACKWARD
struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
    accumulate: u32,   // 1: dx += …, 0: dx = …
};

@group(0) @binding(0) var<storage, read> dy: array<T>;
@group(0) @binding(1) var<storage, read> y: array<T>;
@group(0) @binding(2) var<storage, read_write> dx: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
#else
struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> params: Params;
#endif

override WG: u32 = 64;

#include "lib/reduce.wgsl"

#ifdef BACKWARD
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.y * 65535u + wg.x;
    if (r >= params.rows) {
        return;
    }
    let base = r * params.cols;
    var s = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        s = fma(f32(dy[base + c]), f32(y[base + c]), s);
    }
    let tot = wg_sum2(vec2<f32>(s, 0.0), lid).x;
    for (var c = lid; c < params.cols; c += WG) {
        var g = params.scale * f32(y[base + c]) * (f32(dy[base + c]) - tot);
        if (params.accumulate != 0u) {
            g += f32(dx[base + c]);
        }
        dx[base + c] = T(g);
    }
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wg.y * 65535u + wg.x;
    if (r >= params.rows) {
        return;
    }
    let base = r * params.cols;
    var m = -3.0e38;
    var s = 0.0;
    for (var c = lid; c < params.cols; c += WG) {
        let v = params.scale * f32(x[base + c]);
        let m2 = max(m, v);
        s = s * exp(m - m2) + exp(v - m2);
        m = m2;
    }
    let tot = wg_max_sumexp(vec2<f32>(m, s), lid);
    let inv = 1.0 / tot.y;
    for (var c = lid; c < params.cols; c += WG) {
        y[base + c] = T(exp(params.scale * f32(x[base + c]) - tot.x) * inv);
    }
}
#endif
