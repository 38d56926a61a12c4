// lib/subgroup-tile.wgsl — the register tile shared by matmul.wgsl and conv3d.wgsl (SUBGROUP_TILE).
// Lane l of a subgroup holds x[i] = A[row i, k0 + l] for its K block. For one kk < subgroup size,
// every lane takes A[row i, k0 + kk] from lane kk by subgroupShuffle and multiplies it into its
// own B vec4s b[j] (the columns of this invocation). TM, CV and
// TILE = TM·CV are defines so the tile is unrolled (see #unroll in src/gpu/wgsl.ts).

// acc[i·CV + j] += A[row i, k0 + kk] · b[j]
fn tile_fma(acc: ptr<function, array<vec4<f32>, TILE>>, x: ptr<function, array<f32, TM>>, b: array<vec4<f32>, CV>, kk: u32) {
#unroll i 0 TM
    {
        let s = vec4<f32>(subgroupShuffle((*x)[i], kk));
#unroll j 0 CV
        (*acc)[i * CV + j] = fma(s, b[j], (*acc)[i * CV + j]);
#endunroll
    }
#endunroll
}
