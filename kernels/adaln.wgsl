// adaln.wgsl — AdaLN-LoRA modulation of every layer at once (spec §4.3), once per forward:
//
//   A^i[s, j] = A_base[s, j] + Σ_k up_i[j, k] · d[s, i·r + k]        j < 6D
//   with A_base = adaln.base(silu(c)) and d = [down_0; …; down_{L−1}] · silu(c) computed by matmul.
//   Chunk order of A^i (paper order): γ1, γ2, β1, β2, α1, α2 (each D wide).
//
// Layout   base (S, 6D); d (S, L·r); up (L, 6D, r) (the layers' adaln_lora.up.weight stacked);
//          out (S, L·6D): sample s, layer i at columns i·6D … i·6D + 6D − 1.
// Threads  one invocation per output element (2-D fold).
// Variants F16 (storage).  Override WG.

#include "lib/float.wgsl"

struct Params {
    samples: u32,   // S
    layers: u32,    // L
    width6: u32,    // 6D
    rank: u32,      // r
};

@group(0) @binding(0) var<storage, read> base: array<T>;
@group(0) @binding(1) var<storage, read> d: array<T>;
@group(0) @binding(2) var<storage, read> up: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;
@group(0) @binding(4) var<uniform> params: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = (wg.y * 65535u + wg.x) * WG + lid;
    let per_sample = params.layers * params.width6;
    if (e >= params.samples * per_sample) {
        return;
    }
    let s = e / per_sample;
    let i = (e % per_sample) / params.width6;
    let j = e % params.width6;
    var acc = f32(base[s * params.width6 + j]);
    for (var k = 0u; k < params.rank; k++) {
        acc += f32(up[(i * params.width6 + j) * params.rank + k]) * f32(d[s * params.layers * params.rank + i * params.rank + k]);
    }
    out[e] = T(acc);
}
