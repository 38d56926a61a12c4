// activation-grad.wgsl — pointwise activation backward passes and the stable sigmoid, f32 math.
//
//   gelu_bwd     dx[i] (+)= dy[i] · gelu'(x[i])                  (tanh form, OC3)
//                gelu'(x) = σ(2u) + ½·x·sech²(u)·√(2/π)·(1 + 3·0.044715·x²),  u = √(2/π)(x + 0.044715x³)
//                (= ½(1 + tanh u) + ½·x·(1 − tanh²u)·…; with e = exp(−2|u|): σ(2u) = 1/(1+e) for u ≥ 0,
//                e/(1+e) for u < 0, and sech²u = 4e/(1+e)², so neither term cancels for large |u|;
//                the forward (elementwise/matmul gelu_tanh) writes tanh through the same e.)
//   silu_bwd     dx[i] (+)= dy[i] · σ(x)·(1 + x·(1 − σ(x)))       (σ and 1 − σ both from e = exp(−|x|))
//   sigmoid_fwd  y[i]      = σ(x[i])                              (1/(1+e) for x ≥ 0, e/(1+e) for x < 0)
//   sigmoid_bwd  dx[i] (+)= dy[i] · y[i]·(1 − y[i])                (from the saved output y)
//   (+)= : accumulate = 1 adds into dx's values (GradTarget accumulate), 0 overwrites.
//
// Layout   a: dy (backward) or x (sigmoid_fwd), b: x or y (backward; unused by sigmoid_fwd), out: dx
//          or y; all flat, n elements (the host splits longer tensors into binding-sized chunks).
// Threads  workgroup g (2-D fold: g = wg.y·65535 + wg.x) owns elements [g·PER·WG, (g+1)·PER·WG);
//          lane l takes g·PER·WG + k·WG + l for k < PER (coalesced); tail guarded.
// Memory   none shared.
// Variants F16_A / F16_B / F16_O: f16 storage of a, b, out (activations x, y in f16; gradients
//          dy, dx in f32 or f16); F16 (enables f16) when any of them is set.  Entry points gelu_bwd, silu_bwd, sigmoid_fwd, sigmoid_bwd.
//          Overrides WG, PER (elements per lane).

#include "lib/float.wgsl"
#ifdef F16_A
alias TA = f16;
#else
alias TA = f32;
#endif
#ifdef F16_B
alias TB = f16;
#else
alias TB = f32;
#endif
#ifdef F16_O
alias TO = f16;
#else
alias TO = f32;
#endif

struct Params {
    n: u32,
    accumulate: u32,
};

@group(0) @binding(0) var<storage, read> a: array<TA>;
@group(0) @binding(1) var<storage, read> b: array<TB>;
@group(0) @binding(2) var<storage, read_write> out: array<TO>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 256;
override PER: u32 = 4;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;
const GELU_3C: f32 = 0.134145;

// Element k of this lane (k < PER).
fn index_of(wg: vec3<u32>, lid: u32, k: u32) -> u32 {
    return ((wg.y * 65535u + wg.x) * PER + k) * WG + lid;
}

fn store(i: u32, v: f32) {
    if (params.accumulate != 0u) {
        out[i] = TO(f32(out[i]) + v);
    } else {
        out[i] = TO(v);
    }
}

// (σ(x), 1 − σ(x)), both without cancellation.
fn sigmoid_pair(x: f32) -> vec2<f32> {
    let e = exp(-abs(x));
    let r = 1.0 / (1.0 + e);
    let s = e * r;
    return select(vec2<f32>(s, r), vec2<f32>(r, s), x >= 0.0);
}

fn gelu_grad(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
    let e = exp(-2.0 * abs(u));
    let r = 1.0 / (1.0 + e);
    let half_one_plus_t = select(e * r, r, u >= 0.0);
    let sech2 = 4.0 * e * r * r;
    // Where |x| > 30, e = 0 and the term is 0; the clamp keeps x² finite there (no 0·∞).
    let xc = clamp(x, -30.0, 30.0);
    return half_one_plus_t + 0.5 * xc * sech2 * SQRT_2_OVER_PI * (1.0 + GELU_3C * xc * xc);
}

@compute @workgroup_size(WG)
fn gelu_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = index_of(wg, lid, k);
        if (i < params.n) {
            store(i, f32(a[i]) * gelu_grad(f32(b[i])));
        }
    }
}

@compute @workgroup_size(WG)
fn silu_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = index_of(wg, lid, k);
        if (i < params.n) {
            let x = f32(b[i]);
            let s = sigmoid_pair(x);
            store(i, f32(a[i]) * s.x * (1.0 + x * s.y));
        }
    }
}

@compute @workgroup_size(WG)
fn sigmoid_fwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = index_of(wg, lid, k);
        if (i < params.n) {
            out[i] = TO(sigmoid_pair(f32(a[i])).x);
        }
    }
}

@compute @workgroup_size(WG)
fn sigmoid_bwd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = index_of(wg, lid, k);
        if (i < params.n) {
            let y = f32(b[i]);
            store(i, f32(a[i]) * y * (1.0 - y));
        }
    }
}
