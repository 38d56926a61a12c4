// adamw.wgsl — fused AdamW over flat f32 arenas, exactly optax.adamw (OC22), and the squared
// gradient norm; f32 math.
//
//   adamw_step hyper (a persistent storage tensor the host rewrites before each step, so the same
//             dispatches and Params replay every step):
//               [0] lr  [1] β1  [2] β2  [3] ε  [4] wd  [5] c1 = 1/(1 − β1^t)  [6] c2 = 1/(1 − β2^t)
//               [7] 1 − β1  [8] 1 − β2  [9] ε_root  [10] gradient scale (1)   (t = step + 1;
//               c1, c2, 1 − β computed in float64 on the host, stored as f32)
//             in the reference's order (src/ref/adamw.ts):
//               g  = gscale·grad[i]
//               m' = (1 − β1)·g + β1·m[i],   v' = (1 − β2)·(g·g) + β2·v[i]
//               u  = (m'·c1) / (sqrt(v'·c2 + ε_root) + ε) + wd·p[i]
//               p' = p[i] − lr·u
//   sumsq     partials[base + g] = Σ grad² over workgroup g's block of SPAN·WG elements (into `param`)
//   reduce    m[0] = Σ_j param[j] over the n partials (fixed order)
//
// Layout   grad, param, m, v: one chunk of n elements each (flat views; the host splits arenas
//          into chunks of at most maxStorageBufferBindingSize bytes); hyper [16] f32.
//          sumsq/reduce reuse the slots: param = partials, m = the [1] result (v unused).
// Threads  workgroup g (2-D fold: g = wg.y·65535 + wg.x) owns elements [g·PER·WG, (g+1)·PER·WG);
//          lane l takes g·PER·WG + k·WG + l for k < PER (coalesced); tail guarded. sumsq: the same
//          with SPAN = 32 elements per lane, then a tree of the lanes' sums into partials[base + g].
//          reduce: one workgroup, lane l sums l, l + WG, …, then a tree. Deterministic.
// Memory   sumsq/reduce: WG vec2<f32> (lib/reduce.wgsl).
// Variants none (f32).  Entry points adamw_step, sumsq, reduce_sum.  Overrides WG (power of
//          two), PER (elements per lane).

#include "lib/float.wgsl"

struct Params {
    n: u32,
    base: u32,
};

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override WG: u32 = 256;
override PER: u32 = 4;
// sumsq: elements per lane (fewer partials and tree reductions).
const SPAN: u32 = 32u;

#include "lib/reduce.wgsl"

@compute @workgroup_size(WG)
fn adamw_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lr = hyper[0];
    let b1 = hyper[1];
    let b2 = hyper[2];
    let eps = hyper[3];
    let wd = hyper[4];
    let c1 = hyper[5];
    let c2 = hyper[6];
    let omb1 = hyper[7];
    let omb2 = hyper[8];
    let eps_root = hyper[9];
    let gscale = hyper[10];
    for (var k = 0u; k < PER; k++) {
        let i = ((wg.y * 65535u + wg.x) * PER + k) * WG + lid;
        if (i < params.n) {
            let g = gscale * grad[i];
            let p = param[i];
            let mi = omb1 * g + b1 * m[i];
            let vi = omb2 * (g * g) + b2 * v[i];
            let u = (mi * c1) / (sqrt(vi * c2 + eps_root) + eps) + wd * p;
            m[i] = mi;
            v[i] = vi;
            param[i] = p - lr * u;
        }
    }
}

@compute @workgroup_size(WG)
fn sumsq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wg.y * 65535u + wg.x;
    if (g * SPAN * WG >= params.n) {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < SPAN; k++) {
        let i = (g * SPAN + k) * WG + lid;
        if (i < params.n) {
            let x = grad[i];
            acc += x * x;
        }
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        param[params.base + g] = s.x;
    }
}

@compute @workgroup_size(WG)
fn reduce_sum(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var j = lid; j < params.n; j += WG) {
        acc += param[j];
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        m[0] = s.x;
    }
}
