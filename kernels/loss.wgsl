// loss.wgsl — the readout losses: value AND gradient w.r.t. the prediction in one pass (they end
// the tape), masked means as kauldron (OC10) with a host-given scale s = weight / max(Σ mask·inner, 1e-8)
// (the host knows every mask of the batch, so micro-batches pool over the whole batch), f32 math.
//
//   ce_rows    softmax cross-entropy, integer labels (OC11); row r of logits [B, K]:
//              lse = log Σ_k exp(x_rk) (max-shifted, online merge), value_r = lse − x_r,label
//              grad[r, k] (+)= s·m_r·(exp(x_rk − lse) − 1[k = label_r]);  partials[r] = m_r·value_r
//              (a label outside [0, K) makes value_r NaN: the loss shows it)
//   l2_blocks  squared error WITHOUT ½ (kd.losses.L2; OC12/13/15) over n elements, mask entry ⌊i/inner⌋:
//              value_i = (p_i − t_i)²,  grad_i (+)= s·m·2·(p_i − t_i)
//   huber_blocks TAPIR Huber on the Euclidean distance of each point (OC14), dims = inner:
//              d = ‖p − t‖₂, value = d²/2 if d < δ else δ(d − δ/2),  grad (+)= s·m·(p − t)·(1 if d < δ else δ/d)
//   bce_blocks stable sigmoid BCE (OC16) over n logits read at x_i = pred[offset + i·stride]:
//              value = max(x, 0) − x·z + log1p(exp(−|x|)),  grad[offset + i·stride] (+)= s·m·(σ(x) − z)
//   certainty  z_p = 1[‖p − t‖₂ ≤ delta] (OC14 certainty target, a constant) into grad[p]
//   reduce_partials loss[0] = (accumulate ? loss[0] : 0) + s·Σ_j partials[j]   (one workgroup)
//   A masked-out element (m = 0) contributes exactly 0 to the value and the gradient (no NaN leaks).
//   "(+)=": accumulate = 1 adds into grad (GradTarget accumulate), 0 overwrites, 2 writes no
//   gradient (the value only); in reduce_partials accumulate = 1 adds into loss[0].
//
// Layout   pred, tgt (n elements, or [B, K] / [P, inner]), mask [n / inner] f32 (read only when
//          has_mask = 1), labels [B] i32, grad like pred, partials [blocks] f32, loss [1] f32.
// Threads  ce_rows: one workgroup per row (2-D fold), WG lanes strided over K, a (max, Σexp) tree.
//          *_blocks: workgroup g owns elements [g·16·WG, (g+1)·16·WG), lane l takes g·16·WG + k·WG + l
//          (k < 16: coalesced), its f32 sum goes through a tree to partials[g]. reduce: one
//          workgroup, lane l sums partials l, l + WG, … then a tree. Fixed orders: bit-identical.
// Memory   WG vec2<f32> (lib/reduce.wgsl).
// Variants none (f32 only; masks and strides are params).  Override WG (power of two).

#include "lib/float.wgsl"

struct Params {
    n: u32,
    inner: u32,
    has_mask: u32,
    accumulate: u32,
    scale: f32,
    delta: f32,
    stride: u32,
    offset: u32,
};

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> tgt: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
@group(0) @binding(6) var<storage, read_write> loss: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

override WG: u32 = 256;
const PER: u32 = 16u;

#include "lib/reduce.wgsl"

fn group_index(wg: vec3<u32>) -> u32 {
    return wg.y * 65535u + wg.x;
}

fn mask_of(j: u32) -> f32 {
    if (params.has_mask != 0u) {
        return mask[j];
    }
    return 1.0;
}

fn put_grad(i: u32, v: f32) {
    if (params.accumulate == 1u) {
        grad[i] = grad[i] + v;
    } else if (params.accumulate == 0u) {
        grad[i] = v;
    }
}

// log(1 + e) for e in [0, 1] without losing e when it is tiny (Goldberg's log1p).
fn log1p_small(e: f32) -> f32 {
    let u = 1.0 + e;
    if (u == 1.0) {
        return e;
    }
    return log(u) * e / (u - 1.0);
}

// A quiet NaN from a runtime value (a constant NaN is a shader-creation error in WGSL).
fn nan_f32(runtime: u32) -> f32 {
    return bitcast<f32>(0x7fc00000u | (runtime & 0u));
}

@compute @workgroup_size(WG)
fn ce_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = group_index(wg);
    if (r >= params.n) {
        return;
    }
    let k = params.inner;
    let base = r * k;
    var mx = -3.0e38;
    var se = 0.0;
    for (var c = lid; c < k; c += WG) {
        let v = pred[base + c];
        let m2 = max(mx, v);
        se = se * exp(mx - m2) + exp(v - m2);
        mx = m2;
    }
    let tot = wg_max_sumexp(vec2<f32>(mx, se), lid);
    let lse = tot.x + log(tot.y);
    let label = labels[r];
    let valid = label >= 0 && u32(label) < k;
    let m = mask_of(r);
    let w = params.scale * m;
    for (var c = lid; c < k && params.accumulate != 2u; c += WG) {
        let p = exp(pred[base + c] - lse);
        let hit = valid && u32(label) == c;
        let g = w * (p - select(0.0, 1.0, hit));
        put_grad(base + c, select(g, 0.0, m == 0.0));
    }
    if (lid == 0u) {
        var value = nan_f32(u32(label));
        if (valid) {
            value = lse - pred[base + u32(label)];
        }
        partials[r] = select(m * value, 0.0, m == 0.0);
    }
}

@compute @workgroup_size(WG)
fn l2_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wg);
    if (g * PER * WG >= params.n) {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < PER; k++) {
        let i = (g * PER + k) * WG + lid;
        if (i < params.n) {
            let m = mask_of(i / params.inner);
            let d = pred[i] - tgt[i];
            var gi = 0.0;
            if (m != 0.0) {
                acc += m * (d * d);
                gi = params.scale * m * 2.0 * d;
            }
            put_grad(i, gi);
        }
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        partials[g] = s.x;
    }
}

@compute @workgroup_size(WG)
fn huber_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wg);
    if (g * PER * WG >= params.n) {
        return;
    }
    let dims = params.inner;
    let delta = params.delta;
    var acc = 0.0;
    for (var k = 0u; k < PER; k++) {
        let p = (g * PER + k) * WG + lid;
        if (p < params.n) {
            let m = mask_of(p);
            var d2 = 0.0;
            for (var c = 0u; c < dims; c++) {
                let e = pred[p * dims + c] - tgt[p * dims + c];
                d2 += e * e;
            }
            let d = sqrt(d2);
            var f = 0.0;
            if (m != 0.0) {
                let inside = d < delta;
                acc += m * select(delta * (d - 0.5 * delta), 0.5 * d2, inside);
                f = params.scale * m * select(delta / d, 1.0, inside);
            }
            for (var c = 0u; c < dims; c++) {
                let e = pred[p * dims + c] - tgt[p * dims + c];
                put_grad(p * dims + c, f * e);
            }
        }
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        partials[g] = s.x;
    }
}

@compute @workgroup_size(WG)
fn bce_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wg);
    if (g * PER * WG >= params.n) {
        return;
    }
    var acc = 0.0;
    for (var k = 0u; k < PER; k++) {
        let i = (g * PER + k) * WG + lid;
        if (i < params.n) {
            let m = mask_of(i);
            let at = params.offset + i * params.stride;
            let x = pred[at];
            let z = tgt[i];
            var gi = 0.0;
            if (m != 0.0) {
                let e = exp(-abs(x));
                acc += m * (max(x, 0.0) - x * z + log1p_small(e));
                let r = 1.0 / (1.0 + e);
                let sig = select(e * r, r, x >= 0.0);
                gi = params.scale * m * (sig - z);
            }
            put_grad(at, gi);
        }
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        partials[g] = s.x;
    }
}

@compute @workgroup_size(WG)
fn certainty(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let p = group_index(wg) * WG + lid;
    if (p >= params.n) {
        return;
    }
    let dims = params.inner;
    var d2 = 0.0;
    for (var c = 0u; c < dims; c++) {
        let e = pred[p * dims + c] - tgt[p * dims + c];
        d2 += e * e;
    }
    grad[p] = select(0.0, 1.0, sqrt(d2) <= params.delta);
}

@compute @workgroup_size(WG)
fn reduce_partials(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var j = lid; j < params.n; j += WG) {
        acc += partials[j];
    }
    let s = wg_sum2(vec2<f32>(acc, 0.0), lid);
    if (lid == 0u) {
        var prior = 0.0;
        if (params.accumulate != 0u) {
            prior = loss[0];
        }
        loss[0] = prior + params.scale * s.x;
    }
}
