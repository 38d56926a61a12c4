// Every kernel family, for the contract test and `walt wgsl-dump`.
import type { KernelFamily } from '../gpu/family.js';
import { conv3dFamily } from './conv3d.js';
import { elementwiseFamily } from './elementwise.js';
import { groupnormFamily } from './groupnorm.js';
import { layernormFamily } from './layernorm.js';
import { matmulFamily } from './matmul.js';
import { reduceFamily } from './reduce.js';
import { softmaxFamily } from './softmax.js';

export const allFamilies: readonly KernelFamily<never>[] = [
  elementwiseFamily,
  matmulFamily,
  conv3dFamily,
  layernormFamily,
  groupnormFamily,
  softmaxFamily,
  reduceFamily,
] as unknown as KernelFamily<never>[];
