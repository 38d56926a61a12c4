// Every kernel family, for the contract test and `walt wgsl-dump`.
import type { AnyFamily } from '../wgsl/family.js';
import { activationGradFamily } from './activation-grad.js';
import { adamwFamily } from './adamw.js';
import { adalnFamily } from './adaln.js';
import { attentionFamily } from './attention.js';
import { attentionNaiveFamily } from './attention-naive.js';
import { broadcastAddFamily } from './broadcast-add.js';
import { colsumFamily } from './colsum.js';
import { conv3dFamily } from './conv3d.js';
import { crossAttentionFamily } from './cross-attention.js';
import { elementwiseFamily } from './elementwise.js';
import { fourierFamily } from './fourier.js';
import { groupnormFamily } from './groupnorm.js';
import { headwiseFamily } from './headwise.js';
import { layernormFamily } from './layernorm.js';
import { normTrainFamily } from './norm-train.js';
import { lossFamily } from './loss.js';
import { matmulFamily } from './matmul.js';
import { patchifyFamily } from './patchify.js';
import { reduceFamily } from './reduce.js';
import { softmaxBackwardFamily, softmaxFamily } from './softmax.js';

export const allFamilies: readonly AnyFamily[] = [
  elementwiseFamily,
  matmulFamily,
  conv3dFamily,
  crossAttentionFamily,
  attentionFamily,
  attentionNaiveFamily,
  colsumFamily,
  adalnFamily,
  patchifyFamily,
  layernormFamily,
  normTrainFamily,
  groupnormFamily,
  headwiseFamily,
  softmaxFamily,
  softmaxBackwardFamily,
  reduceFamily,
  activationGradFamily,
  lossFamily,
  broadcastAddFamily,
  fourierFamily,
  adamwFamily,
] as unknown as AnyFamily[];
