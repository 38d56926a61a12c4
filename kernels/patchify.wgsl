// patchify.wgsl — latent ↔ token layouts (spec §4.2, §4.8), p = 1 or 2.
//
//   patchify:   tokens[b, t, py', px', (py·p + px)·C_in + ch] = z[b, t, py'·p + py, px'·p + px, ch]  (ch < C_z)
//               and 0 for C_z ≤ ch < C_in (the zero self-conditioning channels).
//   unpatchify: z[b, t, y, x, ch] = tokens[b, t, y / p, x / p, ((y % p)·p + x % p)·C + ch]
//
// Layout   z (B, T, H, W, C_z) channels-last; tokens (B·T·(H/p)·(W/p), p²·C_in).
// Threads  one invocation per output element (2-D fold).
// Variants F16 (storage), UNPATCHIFY (the inverse direction).  Override WG.

#include "lib/float.wgsl"

struct Params {
    frames: u32,   // B·T
    height: u32,   // H (latent)
    width: u32,    // W (latent)
    c_z: u32,      // channels of z
    c_tok: u32,    // channels per patch position in the tokens (C_in for patchify, C for unpatchify)
    patch_size: u32,    // p
};

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> params: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = (wg.y * 65535u + wg.x) * WG + lid;
    let p = params.patch_size;
    let hp = params.height / p;
    let wp = params.width / p;
#ifdef UNPATCHIFY
    // e indexes z (B·T, H, W, C_z), C_z = output channels = c_tok.
    if (e >= params.frames * params.height * params.width * params.c_z) {
        return;
    }
    let ch = e % params.c_z;
    let x = (e / params.c_z) % params.width;
    let y = (e / (params.c_z * params.width)) % params.height;
    let f = e / (params.c_z * params.width * params.height);
    let tok = (f * hp + y / p) * wp + x / p;
    dst[e] = src[tok * p * p * params.c_tok + ((y % p) * p + x % p) * params.c_tok + ch];
#else
    // e indexes tokens (B·T·hp·wp, p²·c_tok).
    let row_len = p * p * params.c_tok;
    if (e >= params.frames * hp * wp * row_len) {
        return;
    }
    let col = e % row_len;
    let tok = e / row_len;
    let ch = col % params.c_tok;
    let pp = col / params.c_tok;
    let x = (tok % wp) * p + pp % p;
    let y = ((tok / wp) % hp) * p + pp / p;
    let f = tok / (wp * hp);
    var v = T(0.0);
    if (ch < params.c_z) {
        v = src[((f * params.height + y) * params.width + x) * params.c_z + ch];
    }
    dst[e] = v;
#endif
}
