// lib/reduce.wgsl — workgroup tree reductions (f32). Needs `override WG: u32` (power of two)
// declared by the including kernel, and uses local_invocation_index `lid`.
// Cost: log2(WG) barriers. Every invocation of the workgroup must call these (uniform control flow).

var<workgroup> red_buf: array<vec2<f32>, WG>;

// Sum of (v.x, v.y) over the workgroup; every invocation gets the total.
fn wg_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
    red_buf[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            red_buf[lid] = red_buf[lid] + red_buf[lid + s];
        }
        workgroupBarrier();
    }
    let r = red_buf[0];
    workgroupBarrier();
    return r;
}

// (max, sum·exp) style reduction for softmax: x = running max, y = sum of exp(v - max).
fn wg_max_sumexp(v: vec2<f32>, lid: u32) -> vec2<f32> {
    red_buf[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            let p = red_buf[lid];
            let q = red_buf[lid + s];
            let m = max(p.x, q.x);
            red_buf[lid] = vec2<f32>(m, p.y * exp(p.x - m) + q.y * exp(q.x - m));
        }
        workgroupBarrier();
    }
    let r = red_buf[0];
    workgroupBarrier();
    return r;
}
