// Every WGSL file under kernels/, by path relative to kernels/. The bundle embeds them as text
// (esbuild `text` loader; vitest.config.ts has the same for tests), so the CLI runs from any
// directory. test/contract checks that this list matches the files on disk.

import adaln from '../../kernels/adaln.wgsl';
import attention from '../../kernels/attention.wgsl';
import attentionNaive from '../../kernels/attention-naive.wgsl';
import conv3d from '../../kernels/conv3d.wgsl';
import elementwise from '../../kernels/elementwise.wgsl';
import matmul from '../../kernels/matmul.wgsl';
import patchify from '../../kernels/patchify.wgsl';
import groupnorm from '../../kernels/groupnorm.wgsl';
import layernorm from '../../kernels/layernorm.wgsl';
import reduce from '../../kernels/reduce.wgsl';
import softmax from '../../kernels/softmax.wgsl';
import libFloat from '../../kernels/lib/float.wgsl';
import libReduce from '../../kernels/lib/reduce.wgsl';
import libSubgroupTile from '../../kernels/lib/subgroup-tile.wgsl';
import libWindow from '../../kernels/lib/window.wgsl';

export const kernelFiles: Readonly<Record<string, string>> = {
  'adaln.wgsl': adaln,
  'attention.wgsl': attention,
  'attention-naive.wgsl': attentionNaive,
  'conv3d.wgsl': conv3d,
  'elementwise.wgsl': elementwise,
  'matmul.wgsl': matmul,
  'patchify.wgsl': patchify,
  'groupnorm.wgsl': groupnorm,
  'layernorm.wgsl': layernorm,
  'reduce.wgsl': reduce,
  'softmax.wgsl': softmax,
  'lib/float.wgsl': libFloat,
  'lib/reduce.wgsl': libReduce,
  'lib/subgroup-tile.wgsl': libSubgroupTile,
  'lib/window.wgsl': libWindow,
};
