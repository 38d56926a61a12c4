// Every kernel family, for the contract test and `walt wgsl-dump`.
import type { AnyFamily } from '../gpu/family.js';
import { adalnFamily } from './adaln.js';
import { attentionFamily } from './attention.js';
import { attentionNaiveFamily } from './attention-naive.js';
import { conv3dFamily } from './conv3d.js';
import { elementwiseFamily } from './elementwise.js';
import { groupnormFamily } from './groupnorm.js';
import { layernormFamily } from './layernorm.js';
import { matmulFamily } from './matmul.js';
import { patchifyFamily } from './patchify.js';
import { reduceFamily } from './reduce.js';
import { softmaxFamily } from './softmax.js';

export const allFamilies: readonly AnyFamily[] = [
  elementwiseFamily,
  matmulFamily,
  conv3dFamily,
  attentionFamily,
  attentionNaiveFamily,
  adalnFamily,
  patchifyFamily,
  layernormFamily,
  groupnormFamily,
  softmaxFamily,
  reduceFamily,
] as unknown as AnyFamily[];
