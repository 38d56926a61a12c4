// headwise.wgsl — a Linear applied per head: head h of a [Z, H, ·] tensor meets only rows
// h·d … h·d + d − 1 of a PyTorch weight W [H·d, C] (the single-query attention readout's key
// and value maps, spec §7.1, in their efficient form).
//
//   contract_c:  y[z, h, i] = Σ_c W[h·d + i, c] · x[z, h, c] + bias[h·d + i]   x [Z,H,C] → y [Z,H,d]
//   contract_i:  y[z, h, c] = Σ_i W[h·d + i, c] · x[z, h, i]                   x [Z,H,d] → y [Z,H,C]
//                (the transposed map: u_h = W_hᵀ q_h, and contract_c's input gradient)
//   weight_grad: dW[h·d + i, c] (+)= Σ_z a[z, h, i] · b[z, h, c]               a [Z,H,d], b [Z,H,C]
//   ACCUM (params.accumulate = 1): y += … instead of y = … (the tape's += rule).
//
// Threads  one invocation per output element, looping over the contracted axis in a fixed order
//          (every element has one writer: deterministic, no atomics). These maps are tiny next to
//          the readout's passes over the features (Z·H·d·C multiply-adds), so no tiling.
// Variants F16 (storage of x, W, y; f32 accumulation). Overrides WG.

#include "lib/float.wgsl"

struct Params {
    z: u32,            // Z (batch)
    heads: u32,        // H
    d: u32,            // per-head width of the weight rows
    c: u32,            // columns of the weight
    has_bias: u32,
    accumulate: u32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> w: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> params: Params;

override WG: u32 = 64;

fn store(idx: u32, v: f32) {
    if (params.accumulate != 0u) {
        y[idx] = T(f32(y[idx]) + v);
    } else {
        y[idx] = T(v);
    }
}

@compute @workgroup_size(WG)
fn contract_c(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let o = (wg.y * nwg.x + wg.x) * WG + lid;       // over [Z, H, d]
    let hd = params.heads * params.d;
    if (o >= params.z * hd) {
        return;
    }
    let zz = o / hd;
    let k = o % hd;                                  // h·d + i
    let h = k / params.d;
    let xb = (zz * params.heads + h) * params.c;
    let wb = k * params.c;
    var s = 0.0;
    for (var cc = 0u; cc < params.c; cc++) {
        s = fma(f32(w[wb + cc]), f32(x[xb + cc]), s);
    }
    if (params.has_bias != 0u) {
        s += f32(bias[k]);
    }
    store(o, s);
}

@compute @workgroup_size(WG)
fn contract_i(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let o = (wg.y * nwg.x + wg.x) * WG + lid;       // over [Z, H, C]
    let hc = params.heads * params.c;
    if (o >= params.z * hc) {
        return;
    }
    let zz = o / hc;
    let r = o % hc;
    let h = r / params.c;
    let cc = r % params.c;
    let xb = (zz * params.heads + h) * params.d;
    var s = 0.0;
    for (var i = 0u; i < params.d; i++) {
        s = fma(f32(w[(h * params.d + i) * params.c + cc]), f32(x[xb + i]), s);
    }
    store(o, s);
}

// weight_grad reads a [Z,H,d] from `x` and b [Z,H,C] from `w` (binding names are per family).
@compute @workgroup_size(WG)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let o = (wg.y * nwg.x + wg.x) * WG + lid;       // over [H·d, C]
    let hd = params.heads * params.d;
    if (o >= hd * params.c) {
        return;
    }
    let k = o / params.c;                            // h·d + i
    let cc = o % params.c;
    let h = k / params.d;
    let i = k % params.d;
    var s = 0.0;
    for (var zz = 0u; zz < params.z; zz++) {
        s = fma(f32(x[(zz * params.heads + h) * params.d + i]), f32(w[(zz * params.heads + h) * params.c + cc]), s);
    }
    store(o, s);
}

// pad_heads:   y[r, h·c + i] = x[r, h·d + i] for i < d, 0 for d ≤ i < c   (x [R, H·d] → y [R, H·c])
// unpad_heads: y[r, h·d + i] (+)= x[r, h·c + i] for i < d                 (x [R, H·c] → y [R, H·d])
// (head widths that are not a multiple of 4, padded for the cross-attention kernel; the zero
// columns add nothing to q·k and produce outputs that are dropped.)
@compute @workgroup_size(WG)
fn pad_heads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let o = (wg.y * nwg.x + wg.x) * WG + lid;       // over [R, H, c]
    let hc = params.heads * params.c;
    if (o >= params.z * hc) {
        return;
    }
    let r = o / hc;
    let h = (o % hc) / params.c;
    let i = o % params.c;
    var v = 0.0;
    if (i < params.d) {
        v = f32(x[(r * params.heads + h) * params.d + i]);
    }
    store(o, v);
}

@compute @workgroup_size(WG)
fn unpad_heads(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let o = (wg.y * nwg.x + wg.x) * WG + lid;       // over [R, H, d]
    let hd = params.heads * params.d;
    if (o >= params.z * hd) {
        return;
    }
    let r = o / hd;
    let h = (o % hd) / params.d;
    let i = o % params.d;
    store(o, f32(x[(r * params.heads + h) * params.c + i]));
}
