// Every WGSL file under kernels/, by path relative to kernels/. The bundle embeds them as text
// (esbuild `text` loader; vitest.config.ts has the same for tests), so the CLI runs from any
// directory. test/contract checks that this list matches the files on disk.

import activationGrad from '../../kernels/activation-grad.wgsl';
import adamw from '../../kernels/adamw.wgsl';
import adaln from '../../kernels/adaln.wgsl';
import attention from '../../kernels/attention.wgsl';
import attentionNaive from '../../kernels/attention-naive.wgsl';
import broadcastAdd from '../../kernels/broadcast-add.wgsl';
import colsum from '../../kernels/colsum.wgsl';
import conv3d from '../../kernels/conv3d.wgsl';
import crossAttention from '../../kernels/cross-attention.wgsl';
import elementwise from '../../kernels/elementwise.wgsl';
import loss from '../../kernels/loss.wgsl';
import matmul from '../../kernels/matmul.wgsl';
import patchify from '../../kernels/patchify.wgsl';
import fourier from '../../kernels/fourier.wgsl';
import groupnorm from '../../kernels/groupnorm.wgsl';
import headwise from '../../kernels/headwise.wgsl';
import layernorm from '../../kernels/layernorm.wgsl';
import normTrain from '../../kernels/norm-train.wgsl';
import reduce from '../../kernels/reduce.wgsl';
import softmax from '../../kernels/softmax.wgsl';
import libFloat from '../../kernels/lib/float.wgsl';
import libReduce from '../../kernels/lib/reduce.wgsl';
import libSubgroupTile from '../../kernels/lib/subgroup-tile.wgsl';
import libWindow from '../../kernels/lib/window.wgsl';

export const kernelFiles: Readonly<Record<string, string>> = {
  'activation-grad.wgsl': activationGrad,
  'adamw.wgsl': adamw,
  'adaln.wgsl': adaln,
  'attention.wgsl': attention,
  'attention-naive.wgsl': attentionNaive,
  'broadcast-add.wgsl': broadcastAdd,
  'colsum.wgsl': colsum,
  'conv3d.wgsl': conv3d,
  'cross-attention.wgsl': crossAttention,
  'elementwise.wgsl': elementwise,
  'loss.wgsl': loss,
  'matmul.wgsl': matmul,
  'patchify.wgsl': patchify,
  'fourier.wgsl': fourier,
  'groupnorm.wgsl': groupnorm,
  'headwise.wgsl': headwise,
  'layernorm.wgsl': layernorm,
  'norm-train.wgsl': normTrain,
  'reduce.wgsl': reduce,
  'softmax.wgsl': softmax,
  'lib/float.wgsl': libFloat,
  'lib/reduce.wgsl': libReduce,
  'lib/subgroup-tile.wgsl': libSubgroupTile,
  'lib/window.wgsl': libWindow,
};
