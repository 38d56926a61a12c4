// softmax.wgsl — row softmax with a scale, f32 math: y[r, c] = exp(s·x[r,c] − m_r) / Σ_c exp(s·x[r,c] − m_r).
//
// Layout   x, y (rows, C) contiguous.
// Threads  one workgroup per row (2-D fold), WG invocations striding over C; a (max, Σexp) tree
//          reduction with the online-softmax merge rule, then a normalising pass.
// Variants F16 (storage).  Override WG.

#include "lib/float.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 64;

#include "lib/reduce.wgsl"

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
