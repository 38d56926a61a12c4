// matmul.wgsl — batched C = epilogue(A · B), f32 accumulation, f32 or f16 storage.
//
//   C[z, m, n] = epi( Σ_k A[z, m, k] · B[z, k, n] )
//   epi(v)     = act(v + bias[n])                        (flags: BIAS, GELU or SILU)
//              then  res[z, m, n] + v                    (RESIDUAL)
//              or    res[z, m, n] + gate[s·gate_stride + gate_offset + n] · v
//                                                    (GATED, s = (z·M + m) / rows_per_gate: x + α ⊙ h)
//              or    C_old[z, m, n] + v                (ACCUM: C += epi(A·B), accumulation into an
//                                                     existing gradient; not with RESIDUAL/GATED)
//   The epilogue options are bits of params.flags (uniform branches run once per output), not
//   variants: each variant costs a pipeline compile, which takes seconds on a software adapter.
//
// Layout   A (z, M, K) row-major, or (z, K, M) with TRANS_A.
//          B (z, K, N) row-major, or (z, N, K) with TRANS_B (a PyTorch Linear weight [out, in]).
//          Batch strides in elements (0 broadcasts an operand over z). C (z, M, N).
//
// Two thread mappings (both: no workgroup memory, f32 registers):
//  SUBGROUP_TILE (needs the `subgroups` feature; the fast path on llvmpipe and sane on GPUs):
//    a workgroup of WG invocations (several subgroups on GPUs, one 8-lane subgroup on llvmpipe)
//    owns TM rows × WG·CV vec4 columns; invocation i owns vec4 columns i, i + WG, …
//    (neighbours read neighbouring memory). K advances in blocks of the subgroup size sg (the
//    `subgroup_size` builtin): lane l loads A[row, k0 + l] for the TM rows (every lane a distinct
//    element), then for each kk < sg the subgroup's lanes get A[row, k0 + kk] by subgroupShuffle
//    and multiply it into their B vec4s. The TM × CV register tile is unrolled with #unroll (TM
//    and CV are defines: Mesa's NIR unroller gives up on large tiles, which then live on the
//    stack at a fifth of the speed). OPAQUE_LOOPS (software adapters only) hides the TM bound
//    of the fill/drain loops behind params.opaque so llvmpipe keeps them rolled; GPU compilers
//    get constant bounds (a runtime-indexed register array would spill to local memory).
//    On llvmpipe every non-constant load is 8 guarded per-lane scalar loads, so the cost is
//    the number of per-lane loads per FMA: here (TM + 4·CV·SG)/SG per TM·4·CV FMAs per kk.
//  Portable (no subgroups): one invocation owns a TM × 4·TN tile, WG invocations span the
//    columns, every invocation loads the (shared) A values itself.
//
// Variants F16 (storage), TRANS_A, TRANS_B, SUBGROUP_TILE with TM, CV, OPAQUE_LOOPS (defines).
// Overrides WG (subgroup path: a multiple of the adapter's largest subgroup), or TM, TN, WG.

#include "lib/float.wgsl"

struct Params {
    m: u32,
    n: u32,
    k: u32,
    stride_a: u32,      // batch strides, in elements
    stride_b: u32,
    stride_c: u32,
    rows_per_gate: u32, // GATED: rows sharing one gate vector
    flags: u32,         // epilogue bits, see the FLAG_ constants
    gate_stride: u32,   // GATED: elements between two samples' gate vectors
    gate_offset: u32,   // GATED: element offset of the gate inside a sample's row
    opaque: u32,        // always 0xFFFFFFFF: min(bound, opaque) keeps a loop rolled (OPAQUE_LOOPS)
};

const FLAG_BIAS: u32 = 1u;
const FLAG_GELU: u32 = 2u;
const FLAG_SILU: u32 = 4u;
const FLAG_RESIDUAL: u32 = 8u;
const FLAG_GATED: u32 = 16u;
const FLAG_ACCUM: u32 = 32u;

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> res: array<T>;
@group(0) @binding(4) var<storage, read> gate: array<T>;
@group(0) @binding(5) var<storage, read_write> c: array<T>;
@group(0) @binding(6) var<uniform> params: Params;

// A[z, m, k] as f32; callers keep m < M and k < K.
fn a_at(base: u32, m: u32, k: u32) -> f32 {
#ifdef TRANS_A
    return f32(a[base + k * params.m + m]);
#else
    return f32(a[base + m * params.k + k]);
#endif
}

// B at depth k for the four columns n … n+3 (0 beyond N; k < K).
fn b4_at(base: u32, k: u32, n: u32) -> vec4<f32> {
    let nn = params.n;
    let n0 = min(n, nn - 1u);
    let n1 = min(n + 1u, nn - 1u);
    let n2 = min(n + 2u, nn - 1u);
    let n3 = min(n + 3u, nn - 1u);
#ifdef TRANS_B
    let kk = params.k;
    let v = vec4<f32>(f32(b[base + n0 * kk + k]), f32(b[base + n1 * kk + k]), f32(b[base + n2 * kk + k]), f32(b[base + n3 * kk + k]));
#else
    let row = base + k * nn;
    let v = vec4<f32>(f32(b[row + n0]), f32(b[row + n1]), f32(b[row + n2]), f32(b[row + n3]));
#endif
    return select(vec4<f32>(0.0), v, vec4<u32>(n, n + 1u, n + 2u, n + 3u) < vec4<u32>(nn));
}

fn gelu_tanh(x: f32) -> f32 {
    let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    let e = exp(-2.0 * abs(u));
    return 0.5 * x * (1.0 + sign(u) * (1.0 - e) / (1.0 + e));
}

fn epilogue(v: f32, z: u32, m: u32, n: u32) -> f32 {
    let f = params.flags;
    var r = v;
    if ((f & FLAG_BIAS) != 0u) {
        r += f32(bias[n]);
    }
    if ((f & FLAG_GELU) != 0u) {
        r = gelu_tanh(r);
    } else if ((f & FLAG_SILU) != 0u) {
        r = r / (1.0 + exp(-r));
    }
    if ((f & FLAG_GATED) != 0u) {
        let s = (z * params.m + m) / params.rows_per_gate;
        r = f32(res[z * params.stride_c + m * params.n + n]) + f32(gate[s * params.gate_stride + params.gate_offset + n]) * r;
    } else if ((f & FLAG_RESIDUAL) != 0u) {
        r = f32(res[z * params.stride_c + m * params.n + n]) + r;
    }
    return r;
}

// Stores the four columns n … n+3 of row m (those < N) through the epilogue; with ACCUM adds
// to C's old value (in f32; each element has one writer, so the sum is deterministic).
fn store4(v: vec4<f32>, z: u32, m: u32, n: u32) {
    let out = z * params.stride_c + m * params.n;
    let accum = (params.flags & FLAG_ACCUM) != 0u;
    for (var q = 0u; q < 4u; q++) {
        if (n + q < params.n) {
            var r = epilogue(v[q], z, m, n + q);
            if (accum) {
                r += f32(c[out + n + q]);
            }
            c[out + n + q] = T(r);
        }
    }
}

#ifdef SUBGROUP_TILE
#include "lib/subgroup-tile.wgsl"
override WG: u32 = 8;   // invocations per workgroup: a multiple of the largest subgroup size

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
    let z = wg.z;
    let row0 = wg.y * TM;
    let col0 = (wg.x * WG * CV + lid) * 4u;   // first column of this invocation's first vec4
    let base_a = z * params.stride_a;
    let base_b = z * params.stride_b;
#ifdef OPAQUE_LOOPS
    let tm = min(TM, params.opaque);
#else
    let tm = TM;
#endif

    var acc: array<vec4<f32>, TILE>;   // acc[i·CV + j]: row row0 + i, columns col0 + 4·WG·j …
    var x: array<f32, TM>;                 // A[row0 + i, k0 + lane]
    // K in blocks of the subgroup's real size (the builtin, not an assumption): every lane of a
    // subgroup loads a distinct k, then the subgroup shares them by shuffle. Which invocations form
    // a subgroup does not matter: columns belong to invocations, k to subgroup lanes.
    for (var k0 = 0u; k0 < params.k; k0 += sg) {
        let ka = min(k0 + lane, params.k - 1u);
        let live = k0 + lane < params.k;   // beyond K this lane contributes zeros
        for (var i = 0u; i < tm; i++) {
            x[i] = select(0.0, a_at(base_a, min(row0 + i, params.m - 1u), ka), live);
        }
        for (var kk = 0u; kk < sg; kk++) {
            let kb = min(k0 + kk, params.k - 1u);   // rows past K are clamped; their x is 0
            var bv: array<vec4<f32>, CV>;
#unroll j 0 CV
            bv[j] = b4_at(base_b, kb, col0 + 4u * WG * j);
#endunroll
            tile_fma(&acc, &x, bv, kk);
        }
    }
    for (var i = 0u; i < tm; i++) {
        let m = row0 + i;
        if (m < params.m) {
            for (var j = 0u; j < CV; j++) {
                store4(acc[i * CV + j], z, m, col0 + 4u * WG * j);
            }
        }
    }
}
#else
override TM: u32 = 4;
override TN: u32 = 4;
override WG: u32 = 8;
const MAX_TM: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = wg.z;
    let row0 = wg.y * TM;
    let col0 = (wg.x * WG + lid) * TN * 4u;
    let base_a = z * params.stride_a;
    let base_b = z * params.stride_b;

    var acc: array<vec4<f32>, 64>;   // [MAX_TM · 8]: acc[i · TN + j] holds columns col0 + 4j … 4j+3
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < params.k; k += 4u) {
        var av: array<vec4<f32>, MAX_TM>;
        for (var i = 0u; i < TM; i++) {
            let m = min(row0 + i, params.m - 1u);
            av[i] = vec4<f32>(
                a_at(base_a, m, k),
                select(0.0, a_at(base_a, m, min(k + 1u, params.k - 1u)), k + 1u < params.k),
                select(0.0, a_at(base_a, m, min(k + 2u, params.k - 1u)), k + 2u < params.k),
                select(0.0, a_at(base_a, m, min(k + 3u, params.k - 1u)), k + 3u < params.k));
        }
        for (var j = 0u; j < TN; j++) {
            let n = col0 + j * 4u;
            let b0 = b4_at(base_b, k, n);
            let b1 = b4_at(base_b, min(k + 1u, params.k - 1u), n);
            let b2 = b4_at(base_b, min(k + 2u, params.k - 1u), n);
            let b3 = b4_at(base_b, min(k + 3u, params.k - 1u), n);
            for (var i = 0u; i < TM; i++) {
                // av is zero beyond K, so the clamped B rows contribute nothing.
                var s = acc[i * TN + j];
                s = fma(vec4<f32>(av[i].x), b0, s);
                s = fma(vec4<f32>(av[i].y), b1, s);
                s = fma(vec4<f32>(av[i].z), b2, s);
                s = fma(vec4<f32>(av[i].w), b3, s);
                acc[i * TN + j] = s;
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let m = row0 + i;
        if (m >= params.m) {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            store4(acc[i * TN + j], z, m, col0 + j * 4u);
        }
    }
}
#endif
