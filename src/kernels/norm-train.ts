// Training norms (readouts, OC1/OC2): LayerNorm (full, scale-only "LN_scale", no affine) and
// RMSNorm over the head dim with a scale shared by the heads (norm_query / norm_key). The
// forwards save their f32 statistics; the backwards give dx and the affine gradients, which are
// deterministic two-pass column sums (per-block partials, then a fixed-order reduce; no atomics).
// Rows whose tensors exceed the device's binding limit are processed in chunks of rows.
//
// This is the import point; the parts are norm-train-family.ts (the kernel family and its
// variants), norm-train-run.ts (row sets, chunking, the shared forward/backward dispatch),
// norm-train-layer.ts (LayerNorm) and norm-train-rms.ts (RMSNorm).

export {
  NORM_TRAIN_FLAGS,
  NORM_TRAIN_WORKGROUPS,
  normTrainFamily,
  normTrainWorkgroup,
  rowLanes,
  tolerance,
  type NormTrainEntry,
  type NormTrainVariant,
} from './norm-train-family.js';
export {
  layerNormBackward,
  layerNormForward,
  type LayerNormBackwardOptions,
  type LayerNormBackwardResult,
  type LayerNormForwardOptions,
  type LayerNormForwardResult,
} from './norm-train-layer.js';
export {
  rmsNormBackward,
  rmsNormForward,
  type RmsNormBackwardOptions,
  type RmsNormForwardOptions,
  type RmsRows,
  type RowsGradTarget,
} from './norm-train-rms.js';
