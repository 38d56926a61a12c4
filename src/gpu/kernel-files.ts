// Every WGSL file under kernels/, by path relative to kernels/. The bundle embeds them as text
// (esbuild `text` loader; vitest.config.ts has the same for tests), so the CLI runs from any
// directory. test/contract checks that this list matches the files on disk.

import elementwise from '../../kernels/elementwise.wgsl';

export const kernelFiles: Readonly<Record<string, string>> = {
  'elementwise.wgsl': elementwise,
};
