// reduce.wgsl — sum or mean over the middle axis of (outer, axis, inner):
//   y[o, i] = scale · Σ_a x[o, a, i]          (scale = 1 for SUM, 1/axis for MEAN: set by the host)
// Used for feature pooling (space / time / spacetime) before readback.
//
// Layout   x (outer, axis, inner) contiguous; y (outer, inner).
// Threads  one invocation per output element (2-D fold); serial f32 sum over the axis
//          (inner-contiguous reads are coalesced across invocations).
// Variants F16_IN, F16_OUT.  Override WG.

#if defined(F16_IN) || defined(F16_OUT)
enable f16;
#endif
#ifdef F16_IN
alias TIn = f16;
#else
alias TIn = f32;
#endif
#ifdef F16_OUT
alias TOut = f16;
#else
alias TOut = f32;
#endif

struct Params {
    outer: u32,
    axis: u32,
    inner: u32,
    scale: f32,
};

@group(0) @binding(0) var<storage, read> x: array<TIn>;
@group(0) @binding(1) var<storage, read_write> y: array<TOut>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = (wg.y * 65535u + wg.x) * WG + lid;
    if (j >= params.outer * params.inner) {
        return;
    }
    let o = j / params.inner;
    let i = j % params.inner;
    var s = 0.0;
    for (var a = 0u; a < params.axis; a++) {
        s += f32(x[(o * params.axis + a) * params.inner + i]);
    }
    y[j] = TOut(s * params.scale);
}
