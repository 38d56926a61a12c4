// fourier.wgsl — Fourier query features (OC6) with range-reduced phases, f32 math; no gradient.
//
//   features   coordinate rows c [R, nc], bands b < nb, phase column j = b·nc + i:
//              r = fmod(2^b·c_i, 2)          (2^b·c is exact in f32; fmod by 2 as 2·(h − trunc(h)),
//                                             h = r/2: exact, sign of the dividend like C fmod)
//              out[row, j] = sin(π r),  out[row, nc·nb + j] = sin(π r + π/2) = cos(π r)
//   grid       the depth query grid Hq × Wq (row-major (y, x)), coordinates (c_y, c_x), row first,
//              c_i = (2i − (n−1))/(n−1) (n = 1: −1), columns as features with nc = 2 and the phase
//              r = ((2^b·(2i − (n−1))) mod 2(n−1)) / (n−1) computed in integers (exact):
//              out[row, 2b + k] = sin(π r_k),  out[row, 2nb + 2b + k] = cos(π r_k)   (k = 0: y, 1: x)
//   Written at out[row·out_stride + out_offset + col] (a column block of a wider row, e.g. the
//   depth query zeros(C) ++ four(y, x)).
//
// sin(π r), cos(π r): exact reductions (Sterbenz: r ∓ 2, 1 − a, 0.5 − a are exact in f32) to
// a ∈ [0, 1/4], then Taylor polynomials in a (to a¹¹ and a¹², truncation < 3e-9 relative) with π
// split in two parts: a few f32 ulps on any device (the built-in sin is only 2^-11 absolute on
// Vulkan). The grid's reduced fraction num/den (integers) is formed by a 26-significant-bit long
// division, so it too is within about one ulp.
//
// Layout   coords [R, nc] f32; out [rows, out_stride] f32.
// Threads  features: one invocation per (row, j) (2-D fold), writing the sin and the cos column;
//          grid: one per (row, b, k).
// Memory   none shared.
// Variants none (f32).  Entry points features, grid.  Override WG.

#include "lib/float.wgsl"

struct Params {
    rows: u32,
    nc: u32,
    bands: u32,
    out_stride: u32,
    out_offset: u32,
    hq: u32,
    wq: u32,
};

@group(0) @binding(0) var<storage, read> coords: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 256;

const PI_HI: f32 = 3.1415927410125732;
const PI_LO: f32 = -8.742277657347586e-8;
const S3: f32 = -5.167712688446045;
const S5: f32 = 2.550163984298706;
const S7: f32 = -0.5992645025253296;
const S9: f32 = 0.08214588463306427;
const S11: f32 = -0.00737043097615242;
const C2: f32 = -4.934802055358887;
const C4: f32 = 4.058712005615234;
const C6: f32 = -1.3352627754211426;
const C8: f32 = 0.23533062636852264;
const C10: f32 = -0.025806890800595284;
const C12: f32 = 0.001929574296809733;

// sin(π a), a ∈ [0, 1/4].
fn sinpi_poly(a: f32) -> f32 {
    let a2 = a * a;
    let p = S3 + a2 * (S5 + a2 * (S7 + a2 * (S9 + a2 * S11)));
    return a * PI_HI + (a * PI_LO + a * a2 * p);
}

// cos(π a), a ∈ [0, 1/4].
fn cospi_poly(a: f32) -> f32 {
    let a2 = a * a;
    return 1.0 + a2 * (C2 + a2 * (C4 + a2 * (C6 + a2 * (C8 + a2 * (C10 + a2 * C12)))));
}

// r ∈ [−2, 2] → [−1, 1), exactly.
fn wrap2(r: f32) -> f32 {
    if (r >= 1.0) {
        return r - 2.0;
    }
    if (r < -1.0) {
        return r + 2.0;
    }
    return r;
}

fn sinpi(r0: f32) -> f32 {
    let r = wrap2(r0);
    let sg = select(1.0, -1.0, r < 0.0);
    var a = abs(r);
    if (a > 0.5) {
        a = 1.0 - a;
    }
    if (a > 0.25) {
        return sg * cospi_poly(0.5 - a);
    }
    return sg * sinpi_poly(a);
}

fn cospi(r0: f32) -> f32 {
    var a = abs(wrap2(r0));
    var sg = 1.0;
    if (a > 0.5) {
        a = 1.0 - a;
        sg = -1.0;
    }
    if (a > 0.25) {
        return sg * sinpi_poly(0.5 - a);
    }
    return sg * cospi_poly(a);
}

// fmod(x, 2) exactly (h − trunc(h) is exact; ×2 and ×½ are exact).
fn fmod2(x: f32) -> f32 {
    let h = 0.5 * x;
    return 2.0 * (h - trunc(h));
}

// num / den for 0 ≤ num ≤ den/2, den < 2^28: long division to 26 significant bits (truncated),
// then one conversion to f32 and an exact power-of-two scale.
fn ratio(num: u32, den: u32) -> f32 {
    if (num == 0u) {
        return 0.0;
    }
    var rem = num;
    var q = 0u;
    var e = 0u;
    loop {
        if (q >= (1u << 25u) || e >= 64u) {
            break;
        }
        rem = rem * 2u;
        q = q * 2u;
        if (rem >= den) {
            rem = rem - den;
            q = q + 1u;
        }
        e = e + 1u;
    }
    // 2^−e as two exact factors (e ≤ 64).
    let h = e / 2u;
    let s1 = bitcast<f32>((127u - h) << 23u);
    let s2 = bitcast<f32>((127u - (e - h)) << 23u);
    return f32(q) * s1 * s2;
}

// sin(π·num/den) for 0 ≤ num < 2·den, den < 2^27, reduced in integers.
fn sinpi_ratio(num0: u32, den: u32) -> f32 {
    var num = num0;
    var sg = 1.0;
    if (num >= den) {
        num = num - den;
        sg = -1.0;
    }
    if (2u * num > den) {
        num = den - num;
    }
    if (4u * num > den) {
        return sg * cospi_poly(ratio(den - 2u * num, 2u * den));
    }
    return sg * sinpi_poly(ratio(num, den));
}

@compute @workgroup_size(WG)
fn features(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let half = params.nc * params.bands;
    let idx = (wg.y * 65535u + wg.x) * WG + lid;
    if (idx >= params.rows * half) {
        return;
    }
    let row = idx / half;
    let j = idx % half;
    let b = j / params.nc;
    let i = j % params.nc;
    let p2 = bitcast<f32>((127u + b) << 23u);
    let r = fmod2(coords[row * params.nc + i] * p2);
    let o = row * params.out_stride + params.out_offset;
    out[o + j] = sinpi(r);
    out[o + half + j] = cospi(r);
}

@compute @workgroup_size(WG)
fn grid(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let cols = 2u * params.bands;
    let idx = (wg.y * 65535u + wg.x) * WG + lid;
    let rows = params.hq * params.wq;
    if (idx >= rows * cols) {
        return;
    }
    let row = idx / cols;
    let j = idx % cols;
    let b = j / 2u;
    let k = j % 2u;
    let n = select(params.wq, params.hq, k == 0u);
    let i = select(row % params.wq, row / params.wq, k == 0u);
    // Phase numerator x over n1 = n − 1: r = x / n1, x ∈ [0, 2·n1).
    var n1 = n - 1u;
    var x = 0u;
    if (n == 1u) {
        n1 = 1u;
        x = select(0u, 1u, b == 0u);
    } else {
        let m = 2u * n1;
        x = (2u * i + m - n1) % m;
        for (var t = 0u; t < b; t++) {
            x = (2u * x) % m;
        }
    }
    let o = row * params.out_stride + params.out_offset;
    out[o + j] = sinpi_ratio(x, n1);
    // cos(π x/n1) = sin(π (2x + n1) / (2 n1)).
    out[o + cols + j] = sinpi_ratio((2u * x + n1) % (4u * n1), 2u * n1);
}
