// Readout heads (spec §7.1–§7.4, OC1–OC9): typed configs, canonical weight names and shapes,
// exact parameter counts, the ten built-in heads, JSON head files, and the default head of a
// bare kind sized from the features. Counts are sums over the weight list, so counts, init,
// loaders and the GPU heads cannot disagree. Shapes are PyTorch `[out, in]`.
// This is the import point; the parts live in spec-config.ts (configs, validation, derived sizes),
// spec-heads.ts (built-ins, defaults of a bare kind, --head resolution), spec-names.ts (weight
// names) and spec-weights.ts (the weight list and counts). Everything they export is public.

export * from './spec-config.js';
export * from './spec-heads.js';
export * from './spec-names.js';
export * from './spec-weights.js';
