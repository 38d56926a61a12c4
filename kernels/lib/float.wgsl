// lib/float.wgsl — the storage type T (f32, or f16 with F16) and the extensions a kernel enables.
// Include it first: `enable` directives must come before any declaration.
#ifdef F16
enable f16;
#endif
#ifdef SUBGROUP_TILE
enable subgroups;
#endif
#ifdef F16
alias T = f16;
#else
alias T = f32;
#endif
