// broadcast-add.wgsl — y = x + v broadcast by index arithmetic, f32 math, f32 or f16 storage:
//
//   y[i] = x[i] + v[((g / div) % period) · inner + g % inner],   g = base + i (global element index)
//
//   temporal position embedding (OC5), x [B, T, N, C], pe [T, C]: inner = C, div = N·C, period = T
//   row vector v [C] over x [R, C]:                                 inner = C, div = 1, period = 1
//   per-sample rows v [B, C] over x [B, R, C]:                      inner = C, div = R·C, period = B
//
// Layout   x, y: the chunk's n elements (flat views); v: whole (period · inner elements).
//          base: the chunk's first element in the full tensor (the host splits tensors longer than
//          one binding into chunks).
// Threads  workgroup g (2-D fold: g = wg.y·65535 + wg.x) owns elements [g·PER·WG, (g+1)·PER·WG);
//          lane l takes g·PER·WG + k·WG + l for k < PER (coalesced); tail guarded.
// Memory   none shared.
// Variants F16 (storage of x, v, y).  Overrides WG, PER (elements per lane).

#include "lib/float.wgsl"

struct Params {
    n: u32,
    base: u32,
    inner: u32,
    div: u32,
    period: u32,
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> v: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 256;
override PER: u32 = 4;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    for (var k = 0u; k < PER; k++) {
        let i = ((wg.y * 65535u + wg.x) * PER + k) * WG + lid;
        if (i < params.n) {
            let g = params.base + i;
            let j = ((g / params.div) % params.period) * params.inner + g % params.inner;
            y[i] = T(f32(x[i]) + f32(v[j]));
        }
    }
}
