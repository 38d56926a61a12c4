// The package's library entry (`import { FeatureSet } from 'walt-webgpu'` after `npm run build`):
// reading extracted features. No GPU, no ffmpeg.
export { FeatureSet, type FeatureArray } from './reader.js';
export {
  MANIFEST,
  readManifest,
  type ItemKind,
  type ManifestError,
  type ManifestLine,
  type ManifestOk,
  type TensorInfo,
} from './manifest.js';
export { readSpec, SPEC_FILE, type RunSpec } from './spec.js';
export { SafetensorsFile, type TensorEntry } from '../io/safetensors.js';
