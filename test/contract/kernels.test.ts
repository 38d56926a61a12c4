// The WGSL files and the TS wrappers agree: binding names, indices and access modes, the Params
// layout, override names, entry points; every variant compiles (Tint) without errors.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { kernelFiles } from '../../src/wgsl/kernel-files.js';
import { paramsByteSize, resolveVariant } from '../../src/wgsl/family.js';
import { preprocess } from '../../src/wgsl/preprocess.js';
import { allFamilies } from '../../src/kernels/registry.js';
import { gpu } from '../helpers/gpu.js';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.wgsl') ? [join(dir, e.name)] : [],
  );
}

describe('kernel contract', () => {
  it('kernel-files.ts lists exactly the .wgsl files on disk', () => {
    const onDisk = walk('kernels')
      .map((f) => relative('kernels', f))
      .sort();
    expect(Object.keys(kernelFiles).sort()).toEqual(onDisk);
  });

  for (const family of allFamilies) {
    it(`${family.name}: every variant reflects to the wrapper's tables and compiles`, async () => {
      const ctx = await gpu();
      const seen = new Set<string>();
      for (const variant of family.variants()) {
        const r = resolveVariant(family, variant, ctx.caps);
        const { code, lineMap } = preprocess(family.file, kernelFiles, r.defines);
        if (seen.has(code + r.entryPoint)) {
          continue;
        }
        seen.add(code + r.entryPoint);
        const refl = new WgslReflect(code);
        const where = `${r.label}`;
        // Bindings: storage in the wrapper's order, then the uniform Params.
        const storage = refl.storage.filter((s) => s.group === 0).sort((a, b) => a.binding - b.binding);
        expect(
          storage.map((s) => [s.binding, s.name, s.access]),
          where,
        ).toEqual(family.bindings.map((b, i) => [i, b.name, b.access]));
        const uni = refl.uniforms.filter((u) => u.group === 0);
        expect(uni.length, where).toBe(1);
        expect(uni[0]!.binding, where).toBe(family.bindings.length);
        const members = uni[0]!.type.isStruct
          ? (uni[0]!.type as unknown as { members: { name: string; offset: number; type: { name: string } }[] }).members
          : [];
        expect(
          members.map((m) => [m.name, m.offset, m.type.name]),
          where,
        ).toEqual(family.params.map(([n, t], i) => [n, i * 4, t]));
        expect(Math.ceil(uni[0]!.size / 16) * 16, where).toBe(paramsByteSize(family));
        // Overrides named by the wrapper exist in the shader.
        const overrides = new Set(refl.overrides.map((o) => o.name));
        for (const name of Object.keys(r.overrides)) {
          expect(overrides.has(name), `${where}: override ${name}`).toBe(true);
        }
        expect(
          refl.entry.compute.map((e) => e.name),
          where,
        ).toContain(r.entryPoint);
        // Tint compiles it.
        const module = ctx.device.createShaderModule({ code, label: where });
        const info = await module.getCompilationInfo();
        const errors = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => `${lineMap[m.lineNum - 1]?.file}:${lineMap[m.lineNum - 1]?.line}: ${m.message}`);
        expect(errors, where).toEqual([]);
      }
    });
  }
});
