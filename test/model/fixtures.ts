// Loads a fixture folder laid out like shared/golden/micro: weights.safetensors, cases.json,
// <case>/{input.npy, noise.npy, expected.safetensors}.
import { readFileSync } from 'node:fs';
import { readNpy } from '../../src/io/npy.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';

export interface FixtureCase {
  name: string;
  latentInput: boolean;
  classIndex: number | undefined;
  t: number;
  input: { shape: number[]; data: Float32Array };
  noise: Float32Array;
  expected: Map<string, Float32Array>;
}

export async function loadFixture(dir: string): Promise<FixtureCase[]> {
  const cases = JSON.parse(readFileSync(`${dir}/cases.json`, 'utf8')) as {
    t?: number;
    cases: Record<string, { latent_input: boolean; class: number | null }>;
  };
  const out: FixtureCase[] = [];
  for (const [name, c] of Object.entries(cases.cases)) {
    const exp = await SafetensorsFile.open(`${dir}/${name}/expected.safetensors`);
    const expected = new Map<string, Float32Array>();
    for (const k of exp.tensors.keys()) {
      expected.set(k, await exp.readF32(k));
    }
    await exp.close();
    out.push({
      name,
      latentInput: c.latent_input,
      classIndex: c.class ?? undefined,
      t: cases.t ?? 200,
      input: await readNpy(`${dir}/${name}/input.npy`),
      noise: (await readNpy(`${dir}/${name}/noise.npy`)).data,
      expected,
    });
  }
  return out;
}
