// colsum.wgsl — grouped column sums, deterministic (no atomics), f32 accumulation and output:
//
//   out[g, c] = scale · Σ_r x[g, r, c]                  (x viewed as [G, R, C])
//   out[g, c] = scale · Σ_r x[g, r, c] · y[g, r, c]     (MUL: a product with a second input)
//
// Uses: bias gradients db = colsum(dY), LayerNorm scale/shift gradients, positional-embedding
// gradients (several calls, see src/kernels/colsum.ts sumOverAxes).
//
// Two passes. A dispatch sums blocks of `block_rows` rows: workgroup (g, b, column tile) writes
// one partial per column, p[g, block_offset + b, c] = Σ_{r in block b} x[g, r, c], into a scratch
// [G, blocks, C] f32 (every partial has exactly one writer). The final dispatch (FINAL) runs the
// same kernel on the partials as x (f32) with a single block per group and writes
// out[g, c] = scale · Σ_b p[g, b, c] (+ out's old value with ACCUM). A sum with one block in all
// (R small) is a single FINAL pass over x. The block size and the lane layout depend on the shape
// and the adapter only, so the summation order, hence every bit of the result, is fixed.
//
// Layout   x, y [G, R, C] row-major: element (g, r, c) at x_offset + g·group_stride + r·C + c of
//          the binding (a dispatch may see a row or group chunk of a tensor larger than a binding;
//          x_offset absorbs the binding's 256-byte alignment). out [G·blocks, C] f32. With VEC4
//          (C a multiple of 4) a kernel column is four f32/f16 columns loaded as one vec4, and
//          cols, group_stride, x_offset count vec4s (4× fewer loads: on llvmpipe each load is
//          per-lane scalar work, measured 2.6× faster at 32768 × 1024).
// Threads  a workgroup of WG invocations = col_lanes columns × (WG / col_lanes) row lanes
//          (col_lanes a power of two ≤ WG): invocation i takes column i % col_lanes of its tile
//          (neighbours read neighbouring addresses of one row) and row lane i / col_lanes, which
//          strides over the block's rows by the number of row lanes, into four f32 accumulators
//          (independent loads in flight). The row lanes are combined by a fixed tree in
//          workgroup memory. Workgroup index (2-D fold) = (g · blocks_here + b) · col_tiles + t.
// Memory   WG f32 (VEC4: WG vec4<f32>) of workgroup memory.
// Variants F16 (storage of x and y; out is always f32), VEC4.  Override WG (a power of two).

#include "lib/float.wgsl"

struct Params {
    groups: u32,        // groups in this dispatch
    rows: u32,          // rows of each group in this dispatch
    cols: u32,
    group_stride: u32,  // elements between two groups' first rows in x
    x_offset: u32,      // element of (g 0, r 0, c 0) in the x (and y) binding
    block_rows: u32,    // rows per block
    blocks: u32,        // blocks per group in out's layout (1 for FINAL)
    block_offset: u32,  // out's block of this dispatch's block 0 (row chunks)
    group_offset: u32,  // out's group of this dispatch's group 0 (group chunks)
    col_lanes: u32,     // columns per workgroup tile: a power of two ≤ WG
    col_tiles: u32,     // ceil(cols / col_lanes)
    flags: u32,         // FLAG_ bits
    scale: f32,         // FINAL: the factor applied to the sum
};

const FLAG_FINAL: u32 = 1u;
const FLAG_ACCUM: u32 = 2u;
const FLAG_MUL: u32 = 4u;

#ifdef VEC4
alias V = vec4<f32>;
@group(0) @binding(0) var<storage, read> x: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> y: array<vec4<T>>;
#else
alias V = f32;
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> y: array<T>;
#endif
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 256;

var<workgroup> lanes_sum: array<V, WG>;

fn term(i: u32, mul: bool) -> V {
    if (mul) {
        return V(x[i]) * V(y[i]);
    }
    return V(x[i]);
}

// out[o] (+)= v: one f32, or four consecutive ones (VEC4: o counts vec4 columns).
fn store(o: u32, v: V, accum: bool) {
#ifdef VEC4
    for (var q = 0u; q < 4u; q++) {
        var r = v[q];
        if (accum) {
            r += out[4u * o + q];
        }
        out[4u * o + q] = r;
    }
#else
    var r = v;
    if (accum) {
        r += out[o];
    }
    out[o] = r;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let cl = params.col_lanes;
    let row_lanes = WG / cl;
    let blocks_here = (params.rows + params.block_rows - 1u) / params.block_rows;
    let w = wg.y * 65535u + wg.x;
    let t = w % params.col_tiles;
    let gb = w / params.col_tiles;
    let b = gb % blocks_here;
    let g = gb / blocks_here;
    if (g >= params.groups) {
        return;   // the fold's spare workgroups (uniform: the whole workgroup leaves)
    }
    let col = t * cl + lid % cl;
    let rl = lid / cl;
    let r0 = b * params.block_rows;
    let r1 = min(r0 + params.block_rows, params.rows);
    let mul = (params.flags & FLAG_MUL) != 0u;

    var s0 = V(0.0);
    var s1 = V(0.0);
    var s2 = V(0.0);
    var s3 = V(0.0);
    if (col < params.cols) {
        let step = row_lanes * params.cols;
        var i = params.x_offset + g * params.group_stride + (r0 + rl) * params.cols + col;
        var r = r0 + rl;
        for (; r + 3u * row_lanes < r1; r += 4u * row_lanes) {
            s0 += term(i, mul);
            s1 += term(i + step, mul);
            s2 += term(i + 2u * step, mul);
            s3 += term(i + 3u * step, mul);
            i += 4u * step;
        }
        for (; r < r1; r += row_lanes) {
            s0 += term(i, mul);
            i += step;
        }
    }
    lanes_sum[lid] = (s0 + s1) + (s2 + s3);
    workgroupBarrier();
    for (var h = row_lanes / 2u; h > 0u; h = h / 2u) {
        if (rl < h) {
            lanes_sum[lid] = lanes_sum[lid] + lanes_sum[lid + h * cl];
        }
        workgroupBarrier();
    }
    if (rl == 0u && col < params.cols) {
        let o = ((params.group_offset + g) * params.blocks + params.block_offset + b) * params.cols + col;
        let final_pass = (params.flags & FLAG_FINAL) != 0u;
        let v = select(lanes_sum[lid], lanes_sum[lid] * params.scale, final_pass);
        store(o, v, final_pass && (params.flags & FLAG_ACCUM) != 0u);
    }
}
