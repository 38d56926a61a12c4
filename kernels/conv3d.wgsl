// conv3d.wgsl — causal 3-D convolution as an implicit GEMM over the taps, channels-last.
//
//   y[t, y, x, co] = bias[co] + res[t, y, x, co]                        (params.flags: 1 bias, 2 res)
//                  + Σ_{a,b,c,ci} W[a, b, c, ci, co] · x[t·st + a − (kt−1), y·sy + b − pad_h, x·sx + c − pad_w, ci]
//   Input positions outside the clip are zero: k_t − 1 zero frames in front (causal, spec §3.2),
//   pad_h/pad_w before and whatever is needed after in space (k//2 for stride 1; TF "SAME"
//   (0 before, 1 after) for stride 2 with k = 3).
//
// Layout   x (T_in, H, W, C_in) channels-last; the bound x may be a chunk of frames starting at
//          absolute frame `tin0` (frames outside [0, t_total) are zero padding).
//          W (kt, kh, kw, C_in, C_out) — the canonical [C_out, C_in, kt, kh, kw] transposed at load.
//          y (T_out_chunk, H_out, W_out, C_out) for output frames tout0 … tout0 + T_out_chunk − 1.
// Threads  The GEMM view of matmul.wgsl: M = output pixels (t, y, x), N = C_out, K = taps × C_in,
//          with the same two mappings (see matmul.wgsl): SUBGROUP_TILE (a workgroup of WG
//          invocations owns TM pixels × WG·CV vec4 channels; per tap and block of input channels
//          as wide as the subgroup, lane l gathers x[pixel_i, c0 + l] for the TM pixels and the
//          values are shared by subgroupShuffle) or the portable TM × 4·TN per invocation. Row
//          tiles fold over (y, z).
// Memory   registers only.
// Variants F16, SUBGROUP_TILE with TM, CV, OPAQUE_LOOPS (defines).  Overrides WG, or TM, TN, WG.

#include "lib/float.wgsl"

struct Params {
    t_total: u32,   // frames of the whole input clip
    h_in: u32,
    w_in: u32,
    c_in: u32,
    t_out: u32,     // output frames in this chunk
    h_out: u32,
    w_out: u32,
    c_out: u32,
    kt: u32,
    kh: u32,
    kw: u32,
    st: u32,
    sh: u32,
    sw: u32,
    pad_h: u32,
    pad_w: u32,
    tin0: u32,      // absolute frame of the first bound input frame
    tout0: u32,     // absolute frame of the first output frame of this chunk
    flags: u32,     // 1: add bias, 2: add res
    opaque: u32,    // always 0xFFFFFFFF: min(bound, opaque) keeps a loop rolled
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> wt: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> res: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> params: Params;

// Weights W[k, n … n+3] (0 beyond C_out; k < K).
fn w4_at(k: u32, n: u32) -> vec4<f32> {
    let nn = params.c_out;
    let row = k * nn;
    let v = vec4<f32>(f32(wt[row + min(n, nn - 1u)]), f32(wt[row + min(n + 1u, nn - 1u)]),
                      f32(wt[row + min(n + 2u, nn - 1u)]), f32(wt[row + min(n + 3u, nn - 1u)]));
    return select(vec4<f32>(0.0), v, vec4<u32>(n, n + 1u, n + 2u, n + 3u) < vec4<u32>(nn));
}

// Element offset of pixel (it, iy, ix) in the bound chunk, or 0xFFFFFFFF when it is padding.
fn pixel_offset(t_out_abs: i32, yo: i32, xo: i32, ka: u32, kb: u32, kc: u32) -> u32 {
    let it = t_out_abs * i32(params.st) + i32(ka) - i32(params.kt - 1u);
    let iy = yo * i32(params.sh) + i32(kb) - i32(params.pad_h);
    let ix = xo * i32(params.sw) + i32(kc) - i32(params.pad_w);
    if (it < 0 || it >= i32(params.t_total) || iy < 0 || iy >= i32(params.h_in) || ix < 0 || ix >= i32(params.w_in)) {
        return 0xFFFFFFFFu;
    }
    let lt = u32(it) - params.tin0;
    return ((lt * params.h_in + u32(iy)) * params.w_in + u32(ix)) * params.c_in;
}

fn store4(v: vec4<f32>, m: u32, n: u32) {
    for (var q = 0u; q < 4u; q++) {
        let co = n + q;
        if (co < params.c_out) {
            var r = v[q];
            if ((params.flags & 1u) != 0u) {
                r += f32(bias[co]);
            }
            let o = m * params.c_out + co;
            if ((params.flags & 2u) != 0u) {
                r += f32(res[o]);
            }
            y[o] = T(r);
        }
    }
}

#ifdef SUBGROUP_TILE
#include "lib/subgroup-tile.wgsl"
override WG: u32 = 8;   // invocations per workgroup: a multiple of the largest subgroup size

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
    let m0 = (wg.z * 65535u + wg.y) * TM;
    let col0 = (wg.x * WG * CV + lid) * 4u;
    let m_total = params.t_out * params.h_out * params.w_out;
    let hw_out = params.h_out * params.w_out;
#ifdef OPAQUE_LOOPS
    let tm = min(TM, params.opaque);
#else
    let tm = TM;
#endif

    var acc: array<vec4<f32>, TILE>;
    var xv: array<f32, TM>;
    var off: array<u32, TM>;
    let taps = params.kt * params.kh * params.kw;
    for (var tap = 0u; tap < taps; tap++) {
        let ka = tap / (params.kh * params.kw);
        let kb = (tap / params.kw) % params.kh;
        let kc = tap % params.kw;
        for (var i = 0u; i < tm; i++) {
            // Rows beyond M repeat the last pixel (never stored).
            let m = min(m0 + i, m_total - 1u);
            off[i] = pixel_offset(i32(params.tout0 + m / hw_out), i32((m % hw_out) / params.w_out), i32(m % params.w_out), ka, kb, kc);
        }
        let kbase = tap * params.c_in;
        for (var c0 = 0u; c0 < params.c_in; c0 += sg) {
            let ci = c0 + lane;
            let live = ci < params.c_in;
            for (var i = 0u; i < tm; i++) {
                let o = off[i];
                xv[i] = select(0.0, f32(x[min(o + ci, arrayLength(&x) - 1u)]), live && o != 0xFFFFFFFFu);
            }
            for (var kk = 0u; kk < sg; kk++) {
                let k = kbase + min(c0 + kk, params.c_in - 1u);   // clamped rows meet zero x
                var bv: array<vec4<f32>, CV>;
#unroll j 0 CV
                bv[j] = w4_at(k, col0 + 4u * WG * j);
#endunroll
                tile_fma(&acc, &xv, bv, kk);
            }
        }
    }
    for (var i = 0u; i < tm; i++) {
        let m = m0 + i;
        if (m < m_total) {
            for (var j = 0u; j < CV; j++) {
                store4(acc[i * CV + j], m, col0 + 4u * WG * j);
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
    let m0 = (wg.z * 65535u + wg.y) * TM;
    let col0 = (wg.x * WG + lid) * TN * 4u;
    let m_total = params.t_out * params.h_out * params.w_out;
    let hw_out = params.h_out * params.w_out;

    var acc: array<vec4<f32>, 64>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    let taps = params.kt * params.kh * params.kw;
    for (var tap = 0u; tap < taps; tap++) {
        let ka = tap / (params.kh * params.kw);
        let kb = (tap / params.kw) % params.kh;
        let kc = tap % params.kw;
        var off: array<u32, MAX_TM>;
        for (var i = 0u; i < TM; i++) {
            let m = min(m0 + i, m_total - 1u);
            off[i] = pixel_offset(i32(params.tout0 + m / hw_out), i32((m % hw_out) / params.w_out), i32(m % params.w_out), ka, kb, kc);
        }
        let kbase = tap * params.c_in;
        for (var ci = 0u; ci < params.c_in; ci += 4u) {
            var av: array<vec4<f32>, MAX_TM>;
            for (var i = 0u; i < TM; i++) {
                let o = off[i];
                var v = vec4<f32>(0.0);
                if (o != 0xFFFFFFFFu) {
                    let last = arrayLength(&x) - 1u;
                    v = vec4<f32>(f32(x[o + ci]),
                        select(0.0, f32(x[min(o + ci + 1u, last)]), ci + 1u < params.c_in),
                        select(0.0, f32(x[min(o + ci + 2u, last)]), ci + 2u < params.c_in),
                        select(0.0, f32(x[min(o + ci + 3u, last)]), ci + 3u < params.c_in));
                }
                av[i] = v;
            }
            let kmax = kbase + params.c_in - 1u;
            for (var j = 0u; j < TN; j++) {
                let n = col0 + j * 4u;
                let k = kbase + ci;
                let b0 = w4_at(k, n);
                let b1 = w4_at(min(k + 1u, kmax), n);
                let b2 = w4_at(min(k + 2u, kmax), n);
                let b3 = w4_at(min(k + 3u, kmax), n);
                for (var i = 0u; i < TM; i++) {
                    var s = acc[i * TN + j];
                    s = fma(vec4<f32>(av[i].x), b0, s);
                    s = fma(vec4<f32>(av[i].y), b1, s);
                    s = fma(vec4<f32>(av[i].z), b2, s);
                    s = fma(vec4<f32>(av[i].w), b3, s);
                    acc[i * TN + j] = s;
                }
            }
        }
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + i;
        if (m >= m_total) {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            store4(acc[i * TN + j], m, col0 + j * 4u);
        }
    }
}
#endif
