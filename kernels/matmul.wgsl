// matmul.wgsl — batched C = epilogue(A · B), f32 accumulation, f32 or f16 storage.
//
//   C[z, m, n] = epi( Σ_k A[z, m, k] · B[z, k, n] )
//   epi(v)     = act(v + bias[n])                        (flags: BIAS, GELU or SILU)
//              then  res[z, m, n] + v                    (RESIDUAL)
//              or    res[z, m, n] + gate[s·gate_stride + gate_offset + n] · v
//                                                    (GATED, s = (z·M + m) / rows_per_gate: x + α ⊙ h)
//   The epilogue options are bits of params.flags (uniform branches run once per output), not
//   variants: each variant costs a pipeline compile, which takes seconds on a software adapter.
//
// Layout   A (z, M, K) row-major, or (z, K, M) with TRANS_A.
//          B (z, K, N) row-major, or (z, N, K) with TRANS_B (a PyTorch Linear weight [out, in]).
//          Batch strides in elements (0 broadcasts an operand over z). C (z, M, N).
// Threads  One invocation owns a TM × (4·TN) register tile of C: TM rows, TN vec4 column groups.
//          A workgroup of WG invocations covers TM rows × (WG·4·TN) columns; workgroup_id.x walks
//          row tiles, .y column tiles, .z the batch. All invocations of a workgroup read the same
//          A values (uniform loads: broadcast on a GPU, scalar loads on llvmpipe) and their own B
//          columns; every loaded value feeds TM or 4·TN FMAs.
// Memory   no workgroup memory; registers: TM·TN vec4 accumulators.
// Variants F16 (storage), TRANS_A, TRANS_B, VEC4 (K, N multiples of 4: loads without tail guards).
// Overrides TM (1..8), TN (1..8), WG (invocations per workgroup).

#ifdef F16
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

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
};

const FLAG_BIAS: u32 = 1u;
const FLAG_GELU: u32 = 2u;
const FLAG_SILU: u32 = 4u;
const FLAG_RESIDUAL: u32 = 8u;
const FLAG_GATED: u32 = 16u;

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> res: array<T>;
@group(0) @binding(4) var<storage, read> gate: array<T>;
@group(0) @binding(5) var<storage, read_write> c: array<T>;
@group(0) @binding(6) var<uniform> params: Params;

override TM: u32 = 4;
override TN: u32 = 4;
override WG: u32 = 8;

const MAX_TM: u32 = 8u;
const MAX_TN: u32 = 8u;

// Four consecutive k of row m of A (zero beyond K).
fn load_a(base: u32, m: u32, k: u32) -> vec4<f32> {
#ifdef TRANS_A
    // A stored (K, M): the four k are M apart.
    let i = base + k * params.m + m;
    let mm = params.m;
    return vec4<f32>(
        select(0.0, f32(a[i]), k < params.k),
        select(0.0, f32(a[min(i + mm, arrayLength(&a) - 1u)]), k + 1u < params.k),
        select(0.0, f32(a[min(i + 2u * mm, arrayLength(&a) - 1u)]), k + 2u < params.k),
        select(0.0, f32(a[min(i + 3u * mm, arrayLength(&a) - 1u)]), k + 3u < params.k));
#else
    let i = base + m * params.k + k;
#ifdef VEC4
    return vec4<f32>(f32(a[i]), f32(a[i + 1u]), f32(a[i + 2u]), f32(a[i + 3u]));
#else
    return vec4<f32>(
        f32(a[i]),
        select(0.0, f32(a[min(i + 1u, arrayLength(&a) - 1u)]), k + 1u < params.k),
        select(0.0, f32(a[min(i + 2u, arrayLength(&a) - 1u)]), k + 2u < params.k),
        select(0.0, f32(a[min(i + 3u, arrayLength(&a) - 1u)]), k + 3u < params.k));
#endif
#endif
}

// B at depth k for the four columns n..n+3 (zero beyond N).
fn load_b(base: u32, k: u32, n: u32) -> vec4<f32> {
#ifdef TRANS_B
    // B stored (N, K): the four columns are K apart.
    let i = base + n * params.k + k;
    let kk = params.k;
    let last = arrayLength(&b) - 1u;
    return vec4<f32>(
        select(0.0, f32(b[min(i, last)]), n < params.n),
        select(0.0, f32(b[min(i + kk, last)]), n + 1u < params.n),
        select(0.0, f32(b[min(i + 2u * kk, last)]), n + 2u < params.n),
        select(0.0, f32(b[min(i + 3u * kk, last)]), n + 3u < params.n));
#else
    let i = base + k * params.n + n;
#ifdef VEC4
    return vec4<f32>(f32(b[i]), f32(b[i + 1u]), f32(b[i + 2u]), f32(b[i + 3u]));
#else
    let last = arrayLength(&b) - 1u;
    return vec4<f32>(
        select(0.0, f32(b[min(i, last)]), n < params.n),
        select(0.0, f32(b[min(i + 1u, last)]), n + 1u < params.n),
        select(0.0, f32(b[min(i + 2u, last)]), n + 2u < params.n),
        select(0.0, f32(b[min(i + 3u, last)]), n + 3u < params.n));
#endif
#endif
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = wg.z;
    let row0 = wg.x * TM;
    let col0 = (wg.y * WG + lid) * TN * 4u;
    let base_a = z * params.stride_a;
    let base_b = z * params.stride_b;

    var acc: array<vec4<f32>, 64>;   // [MAX_TM * MAX_TN]: acc[i * TN + j] holds columns col0 + 4j .. 4j+3
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    // Rows beyond M read row M-1 (finite values) and are never stored.
    var rows: array<u32, MAX_TM>;
    for (var i = 0u; i < TM; i++) {
        rows[i] = min(row0 + i, params.m - 1u);
    }

    for (var k = 0u; k < params.k; k += 4u) {
        var av: array<vec4<f32>, MAX_TM>;
        for (var i = 0u; i < TM; i++) {
            av[i] = load_a(base_a, rows[i], k);
        }
        for (var j = 0u; j < TN; j++) {
            let n = col0 + j * 4u;
            let b0 = load_b(base_b, k, n);
            let b1 = load_b(base_b, min(k + 1u, params.k - 1u), n);
            let b2 = load_b(base_b, min(k + 2u, params.k - 1u), n);
            let b3 = load_b(base_b, min(k + 3u, params.k - 1u), n);
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
        let out = z * params.stride_c + m * params.n;
        for (var j = 0u; j < TN; j++) {
            let n = col0 + j * 4u;
            let v = acc[i * TN + j];
            for (var q = 0u; q < 4u; q++) {
                if (n + q < params.n) {
                    c[out + n + q] = T(epilogue(v[q], z, m, n + q));
                }
            }
        }
    }
}
