// conv3d.wgsl — causal 3-D convolution as an implicit GEMM over the taps, channels-last.
//
//   y[t, y, x, co] = bias[co] + res[t, y, x, co]
//                  + Σ_{a,b,c,ci} W[a, b, c, ci, co] · x[t·st + a − (kt−1), y·sy + b − pad_h, x·sx + c − pad_w, ci]
//   Input positions outside the clip are zero: k_t − 1 zero frames in front (causal, spec §3.2),
//   pad_h/pad_w before and whatever is needed after in space (k//2 for stride 1; TF "SAME"
//   (0 before, 1 after) for stride 2 with k = 3).
//
// Layout   x (T_in, H, W, C_in) channels-last; the bound x may be a chunk of frames starting at
//          absolute frame `tin0` (frames outside [0, t_total) are zero padding).
//          W (kt, kh, kw, C_in, C_out) — the canonical [C_out, C_in, kt, kh, kw] transposed at load.
//          y (T_out_chunk, H_out, W_out, C_out) for output frames tout0 … tout0 + T_out_chunk − 1.
// Threads  GEMM view: M = output pixels (t, y, x), N = C_out, K = taps × C_in. One invocation owns
//          TM consecutive output pixels × 4·TN output channels; a workgroup of WG invocations spans
//          WG·4·TN channels with the same pixels, so input loads are uniform across the workgroup
//          and weight loads are per invocation (as in matmul.wgsl). Row tiles fold over (x, z).
// Memory   registers only.
// Variants F16, VEC4 (C_in and C_out multiples of 4: unguarded loads). Bias and residual are
//          bits of params.flags (1 = bias, 2 = residual), uniform branches in the epilogue.
// Overrides TM, TN, WG.

#ifdef F16
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

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
};

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> wt: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> res: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> params: Params;

override TM: u32 = 4;
override TN: u32 = 4;
override WG: u32 = 8;

const MAX_TM: u32 = 8u;

// Four weights W[k, n..n+3] (zero beyond C_out).
fn load_w(k: u32, n: u32) -> vec4<f32> {
    let i = k * params.c_out + n;
#ifdef VEC4
    return vec4<f32>(f32(wt[i]), f32(wt[i + 1u]), f32(wt[i + 2u]), f32(wt[i + 3u]));
#else
    let last = arrayLength(&wt) - 1u;
    return vec4<f32>(
        select(0.0, f32(wt[min(i, last)]), n < params.c_out),
        select(0.0, f32(wt[min(i + 1u, last)]), n + 1u < params.c_out),
        select(0.0, f32(wt[min(i + 2u, last)]), n + 2u < params.c_out),
        select(0.0, f32(wt[min(i + 3u, last)]), n + 3u < params.c_out));
#endif
}

// Four input channels ci..ci+3 at element offset `o` (o = pixel start + ci), zero when invalid.
fn load_x(o: u32, valid: bool, ci: u32) -> vec4<f32> {
    if (!valid) {
        return vec4<f32>(0.0);
    }
#ifdef VEC4
    return vec4<f32>(f32(x[o]), f32(x[o + 1u]), f32(x[o + 2u]), f32(x[o + 3u]));
#else
    let last = arrayLength(&x) - 1u;
    return vec4<f32>(
        f32(x[o]),
        select(0.0, f32(x[min(o + 1u, last)]), ci + 1u < params.c_in),
        select(0.0, f32(x[min(o + 2u, last)]), ci + 2u < params.c_in),
        select(0.0, f32(x[min(o + 3u, last)]), ci + 3u < params.c_in));
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let m0 = (wg.z * 65535u + wg.x) * TM;
    let col0 = (wg.y * WG + lid) * TN * 4u;
    let m_total = params.t_out * params.h_out * params.w_out;
    let hw_out = params.h_out * params.w_out;

    var acc: array<vec4<f32>, 64>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    // Output pixel coordinates of the TM rows (rows beyond M repeat the last one, never stored).
    var pt: array<i32, MAX_TM>;
    var py: array<i32, MAX_TM>;
    var px: array<i32, MAX_TM>;
    for (var i = 0u; i < TM; i++) {
        let m = min(m0 + i, m_total - 1u);
        pt[i] = i32(params.tout0 + m / hw_out);
        py[i] = i32((m % hw_out) / params.w_out);
        px[i] = i32(m % params.w_out);
    }

    let taps = params.kt * params.kh * params.kw;
    for (var tap = 0u; tap < taps; tap++) {
        let ka = tap / (params.kh * params.kw);
        let kb = (tap / params.kw) % params.kh;
        let kc = tap % params.kw;
        // Input pixel of each row for this tap: element offset and validity.
        var off: array<u32, MAX_TM>;
        var ok: array<bool, MAX_TM>;
        for (var i = 0u; i < TM; i++) {
            let it = pt[i] * i32(params.st) + i32(ka) - i32(params.kt - 1u);
            let iy = py[i] * i32(params.sh) + i32(kb) - i32(params.pad_h);
            let ix = px[i] * i32(params.sw) + i32(kc) - i32(params.pad_w);
            ok[i] = it >= 0 && it < i32(params.t_total) && iy >= 0 && iy < i32(params.h_in) && ix >= 0 && ix < i32(params.w_in);
            let lt = u32(max(it - i32(params.tin0), 0));
            off[i] = ((lt * params.h_in + u32(max(iy, 0))) * params.w_in + u32(max(ix, 0))) * params.c_in;
        }
        let kbase = tap * params.c_in;
        for (var ci = 0u; ci < params.c_in; ci += 4u) {
            var av: array<vec4<f32>, MAX_TM>;
            for (var i = 0u; i < TM; i++) {
                av[i] = load_x(off[i] + ci, ok[i], ci);
            }
            for (var j = 0u; j < TN; j++) {
                let n = col0 + j * 4u;
                let k = kbase + ci;
                let kmax = kbase + params.c_in - 1u;
                let b0 = load_w(k, n);
                let b1 = load_w(min(k + 1u, kmax), n);
                let b2 = load_w(min(k + 2u, kmax), n);
                let b3 = load_w(min(k + 3u, kmax), n);
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
            let n = col0 + j * 4u;
            let v = acc[i * TN + j];
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
    }
}
