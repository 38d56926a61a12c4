import { describe, expect, it } from 'vitest';
import type { ErrorChannel } from '../../src/gpu/device.js';
import { resolveVariant } from '../../src/wgsl/family.js';
import { PipelineCache } from '../../src/gpu/pipelines.js';
import { softmaxFamily } from '../../src/kernels/softmax.js';
import { kernelFiles } from '../../src/wgsl/kernel-files.js';
import { preprocess, WgslPreprocessError } from '../../src/wgsl/preprocess.js';
import { gpu } from '../helpers/gpu.js';

const files = {
  'main.wgsl': [
    '// head',
    '#include "lib/a.wgsl"',
    '#ifdef F16',
    'enable f16;',
    '#else',
    'let x = 1;',
    '#endif',
    '#if defined(A) && !defined(B) || N == 3',
    'yes N;',
    '#elif N > 1',
    'mid;',
    '#else',
    'no;',
    '#endif',
  ].join('\n'),
  'lib/a.wgsl': 'fn a() {}\n#define K 7\nlet k = K;',
  'bad.wgsl': '#ifdef X\n',
  'cycle.wgsl': '#include "cycle.wgsl"',
};

describe('WGSL preprocessor', () => {
  it('is line-preserving and maps included lines back to their files', () => {
    const r = preprocess('main.wgsl', files, { F16: true, A: true, N: 3 });
    const lines = r.code.split('\n');
    expect(lines).toContain('enable f16;');
    expect(lines).not.toContain('let x = 1;');
    expect(lines).toContain('yes 3;');
    expect(lines).toContain('let k = 7;');
    const idx = lines.indexOf('enable f16;');
    expect(r.lineMap[idx]).toEqual({ file: 'main.wgsl', line: 4 });
    expect(r.lineMap[lines.indexOf('fn a() {}')]).toEqual({ file: 'lib/a.wgsl', line: 1 });
    expect(lines.length).toBe(r.lineMap.length);
  });

  it('evaluates #elif and #else chains', () => {
    expect(preprocess('main.wgsl', files, { N: 2 }).code).toContain('mid;');
    expect(preprocess('main.wgsl', files, { A: true, B: true, N: 1 }).code).toContain('no;');
    expect(preprocess('main.wgsl', files, { A: false }).code).toContain('no;');
  });

  it('reports unbalanced conditionals, missing files and include cycles', () => {
    expect(() => preprocess('bad.wgsl', files, {})).toThrow(WgslPreprocessError);
    expect(() => preprocess('nope.wgsl', files, {})).toThrow(/not found/);
    expect(() => preprocess('cycle.wgsl', files, {})).toThrow(/cycle/);
  });
});

describe('#unroll', () => {
  const files = {
    'u.wgsl': [
      '#unroll i 0 N',
      '#unroll j 0 2',
      'acc[i * 2 + j] = x[i] * b_j;',
      '#endunroll',
      '#endunroll',
      'done;',
    ].join('\n'),
    'bad.wgsl': '#unroll i 0 Q\nx;\n#endunroll',
  };
  it('repeats bodies with the variable replaced, nested, and maps lines back', () => {
    const r = preprocess('u.wgsl', files, { N: 2 });
    const code = r.code.split('\n').filter((l) => l.trim() !== '');
    expect(code).toEqual([
      'acc[0 * 2 + 0] = x[0] * b_0;',
      'acc[0 * 2 + 1] = x[0] * b_1;',
      'acc[1 * 2 + 0] = x[1] * b_0;',
      'acc[1 * 2 + 1] = x[1] * b_1;',
      'done;',
    ]);
    const lines = r.code.split('\n');
    expect(r.lineMap[lines.indexOf('acc[1 * 2 + 1] = x[1] * b_1;')]).toEqual({ file: 'u.wgsl', line: 3 });
    expect(r.lineMap[lines.indexOf('done;')]).toEqual({ file: 'u.wgsl', line: 6 });
  });
  it('needs integer bounds', () => {
    expect(() => preprocess('bad.wgsl', files, {})).toThrow(/not an integer/);
  });
});

// WALT_DEBUG=1: the pipeline cache re-derives the source on every hit and throws when one key
// ever maps to a second source (the tfjs #2669 class of bugs); here the collision is forced by
// changing a kernel file behind the cache's back.
describe('pipeline key → source check (WALT_DEBUG)', () => {
  it('compares on cache hits and names the colliding key', async () => {
    const ctx = await gpu();
    const files: Record<string, string> = { ...kernelFiles };
    const errors = { push: () => undefined, throwIfAny: () => undefined } as unknown as ErrorChannel;
    const cache = new PipelineCache(ctx.device, errors, ctx.caps, true, files);
    const v = { dtype: 'f32' as const };
    const r = resolveVariant(softmaxFamily, v, ctx.caps);
    cache.get(softmaxFamily, r);
    expect(() => cache.get(softmaxFamily as never, r)).not.toThrow();
    files['softmax.wgsl'] = `${files['softmax.wgsl']}\n// changed\n`;
    expect(() => cache.get(softmaxFamily as never, r)).toThrow(/pipeline key collision: softmax\.wgsl/);
    const quiet = new PipelineCache(ctx.device, errors, ctx.caps, false, files);
    quiet.get(softmaxFamily, r);
    files['softmax.wgsl'] = kernelFiles['softmax.wgsl']!;
    expect(() => quiet.get(softmaxFamily as never, r)).not.toThrow();
  });
});
