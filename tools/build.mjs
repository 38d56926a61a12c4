// Bundles the CLI into dist/cli.js (WGSL sources embedded as text, so it runs from any
// directory) and the decode worker into dist/decode-worker.js.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const external = [
  'webgpu',
  '@ffmpeg-installer/ffmpeg',
  '@resvg/resvg-js',
  '@tensorflow/*',
  'onnxruntime-node',
  'onnxruntime-common',
  'benny',
];

const entryPoints = { cli: 'src/cli/main.ts' };
if (existsSync('src/io/decode-worker.ts')) {
  entryPoints['decode-worker'] = 'src/io/decode-worker.ts';
}

await build({
  entryPoints,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  external,
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __waltCreateRequire } from 'node:module';",
      'const require = __waltCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  logLevel: 'warning',
});
