// The metrics library (spec §8, OC17–OC21): plain typed arrays and shapes in, numbers out, for
// predictions from any model.
export {
  bindShapes,
  datasetMean,
  MetricsInputError,
  type NanPolicy,
  type NumericTensor,
  type ShapeCheck,
} from './common.js';
export { argmaxFirst, top1Accuracy, top1Correct } from './top1.js';
export {
  absRel,
  absRelPerClip,
  alignCornersNearest,
  DEPTH_MAX,
  DEPTH_MIN,
  isValidDepth,
  type AbsRelPerClip,
} from './absrel.js';
export { det3, svd3, type Svd3 } from './svd3.js';
export { CUBE_CORNERS, poseEndPointError, poseEpe, poseEpePerClip, procrustes } from './pose.js';
export {
  meanOverVideos,
  predictedVisible,
  sigmoid,
  tapvid,
  TAPVID_KEYS,
  TAPVID_RASTER,
  TAPVID_THRESHOLDS,
  tapvidPerVideo,
  tapvidPerVideoRaster,
  type TapvidHeadInput,
  type TapvidMetrics,
  type TapvidRasterInput,
} from './tapvid.js';
export { boxIou, boxIouMean, boxIouPerClip, type BoxIouInput } from './boxes.js';
export {
  computeTaskMetrics,
  isMetricTask,
  METRIC_TASKS,
  TASK_SPECS,
  type MetricTask,
  type TaskSpec,
  type TensorSpec,
} from './tasks.js';
export { readNumeric, readTaskTensors } from './io.js';
