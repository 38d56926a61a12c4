// Bundles the CLI into dist/cli.js (WGSL sources embedded as text, so it runs from any
// directory), the decode and training-batch workers into dist/decode-worker.js and
// dist/train-worker.js, and the library entry (reading
// features: `import { FeatureSet } from 'walt-webgpu'`) into dist/index.js with its type
// declarations (dist/index.d.ts, dist/types/).
import { build } from 'esbuild';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

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
if (existsSync('src/train-readout/batch-worker.ts')) {
  entryPoints['train-worker'] = 'src/train-readout/batch-worker.ts';
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

// The library: no GPU, no ffmpeg; node built-ins only.
const LIB_ENTRY = 'src/extract/index.ts';
await build({
  entryPoints: { index: LIB_ENTRY },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});

// Its declarations, emitted by the TypeScript compiler from the same sources.
const { default: ts } = await import('typescript');
rmSync('dist/types', { recursive: true, force: true });
const program = ts.createProgram([LIB_ENTRY], {
  declaration: true,
  emitDeclarationOnly: true,
  outDir: 'dist/types',
  rootDir: 'src',
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  strict: true,
  skipLibCheck: true,
  types: ['node'],
  resolveJsonModule: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
});
const emitted = program.emit();
const problems = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
if (problems.length > 0 || emitted.emitSkipped) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\n' };
  throw new Error(`type declarations of ${LIB_ENTRY}:\n${ts.formatDiagnostics(problems, host)}`);
}
mkdirSync('dist', { recursive: true });
writeFileSync('dist/index.d.ts', "export * from './types/extract/index.js';\n");
