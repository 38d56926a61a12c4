// walt init, walt forward.
import { existsSync } from 'node:fs';
import { GpuContext } from '../gpu/context.js';
import { readNpy } from '../io/npy.js';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { loadConfig, type WaltConfig } from '../model/config.js';
import { forwardClip, type ForwardRequest, prepareForward } from '../model/walt.js';
import {
  loadWeights,
  randomWeightValues,
  uploadWeights,
  writeRandomWeights,
  type ModelWeights,
} from '../model/weights.js';
import { parseFloatDType, type FloatDType } from '../tensor/dtype.js';
import { flag, int, optStr, parse, str, UsageError } from './args.js';

export const INIT_HELP = `walt init --config NAME|PATH.json --seed N --out W.safetensors [--image-model]

Writes seeded random weights for every tensor of the config (encoder, latent_norm, denoiser),
canonical names, F32, in one safetensors file (written to a temporary name, then renamed).
`;

export const FORWARD_HELP = `walt forward --config NAME --input x.npy [--latent] [--weights W.safetensors]
             [--t 200] [--noise eps.npy | --noise-seed N] [--class K] [--taps 2,4,final]
             [--out out.safetensors] [--dtype f32|f16] [--image-model] [--adapter NAME] [--stats]

One clip through the model. --input is float32 [T,H,W,3] pixels in [0,1] (a single frame
[1,H,W,3] is an image and takes the identity path in spatiotemporal layers) or, with --latent,
a normalised latent [T',h,w,c]. The clip is noised to step --t (zero-terminal-SNR schedule),
then one denoiser pass runs with the class row --class (default: the null class) and zero
self-conditioning; work stops after the deepest tap.
Output (float32 safetensors): latent (pixel input), z_t, block.<l> for each tapped block l
(1-based: the residual stream after blocks.<l-1>, shape [T',h/p,w/p,D]), v_pred [T',h,w,c] when
'final' is tapped. Without --weights, seeded random weights are used (a notice says so).
Every pipeline is created before the first dispatch; stderr reports that cold start apart from
the forward time. --stats prints one JSON object on stdout: {"memory": {"pool_mb", "peak_bytes",
"buffers_created", "buffers_reused"}, "time": {"prepare_ms", "forward_ms", "pipelines"}}, the
pool cap in force (WALT_POOL_MB, 0 = no pooling) and this run's counters.
`;

export async function initCommand(argv: string[]): Promise<number> {
  const { values } = parse('init', argv, {
    config: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'image-model': { type: 'boolean' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(INIT_HELP);
    return 0;
  }
  const cfg = loadConfig(str(values, 'config'), { imageModel: flag(values, 'image-model') });
  const seed = int(values, 'seed', 0);
  const out = str(values, 'out');
  const t0 = performance.now();
  const n = await writeRandomWeights(out, cfg, seed);
  process.stderr.write(
    `walt init: wrote ${n.toLocaleString('en-US')} parameters of '${cfg.name}' (seed ${seed}) to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

/** Loads weights from a file, or makes seeded random ones with a loud notice. */
export async function weightsFor(
  ctx: GpuContext,
  cfg: WaltConfig,
  path: string | undefined,
  opts: { needEncoder: boolean; dtype: FloatDType; seed?: number },
): Promise<ModelWeights> {
  if (path) {
    if (!existsSync(path)) {
      throw new UsageError(
        `--weights ${path}: no such file (make one with: walt init --config ${cfg.name} --out ${path})`,
      );
    }
    return loadWeights(ctx, path, cfg, opts);
  }
  const seed = opts.seed ?? 0;
  process.stderr.write(
    `\n  *** NOTICE: no --weights given: using SEEDED RANDOM weights (seed ${seed}) for '${cfg.name}'. ***\n` +
      `  *** Features from random weights are for testing and benchmarking only.          ***\n\n`,
  );
  return uploadWeights(ctx, cfg, randomWeightValues(cfg, seed), { ...opts, source: `random:${seed}` });
}

export function parseTaps(s: string, layers: number): { taps: number[]; final: boolean } {
  const taps: number[] = [];
  let final = false;
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (part === 'final') {
      final = true;
      continue;
    }
    const n = Number(part);
    if (!Number.isInteger(n) || n < 1 || n > layers) {
      throw new UsageError(`--taps: '${part}' is not a block in 1…${layers} or 'final'`);
    }
    taps.push(n);
  }
  if (taps.length === 0 && !final) {
    throw new UsageError('--taps needs at least one block (1-based) or final');
  }
  return { taps: [...new Set(taps)].sort((a, b) => a - b), final };
}

export async function forwardCommand(argv: string[]): Promise<number> {
  const { values } = parse('forward', argv, {
    config: { type: 'string' },
    weights: { type: 'string' },
    input: { type: 'string' },
    latent: { type: 'boolean' },
    t: { type: 'string' },
    noise: { type: 'string' },
    'noise-seed': { type: 'string' },
    class: { type: 'string' },
    taps: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string' },
    'image-model': { type: 'boolean' },
    adapter: { type: 'string' },
    stats: { type: 'boolean' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(FORWARD_HELP);
    return 0;
  }
  const cfg = loadConfig(str(values, 'config'), { imageModel: flag(values, 'image-model') });
  const dtype = parseFloatDType(str(values, 'dtype', 'f32'));
  const inputPath = str(values, 'input');
  const latent = flag(values, 'latent');
  const t = int(values, 't', 200, 0);
  if (t > 999) {
    throw new UsageError(`--t ${t}: steps are 0…999`);
  }
  const { taps, final } = parseTaps(str(values, 'taps', 'final'), cfg.denoiser.layers);
  const out = str(values, 'out', 'out.safetensors');
  const noisePath = optStr(values, 'noise');
  if (noisePath && values['noise-seed'] !== undefined) {
    throw new UsageError('give --noise or --noise-seed, not both');
  }
  const classIndex = values.class === undefined ? undefined : int(values, 'class', 0, 0);
  const input = await readNpy(inputPath);
  const noise = noisePath ? (await readNpy(noisePath)).data : { seed: int(values, 'noise-seed', 0) };
  const adapter = optStr(values, 'adapter');
  const ctx = await GpuContext.create(adapter ? { adapter } : {});
  try {
    if (dtype === 'f16' && !ctx.caps.f16) {
      throw new UsageError(`--dtype f16: ${ctx.adapter.name} has no shader-f16 feature; use --dtype f32`);
    }
    const weights = await weightsFor(ctx, cfg, optStr(values, 'weights'), { needEncoder: !latent, dtype });
    const req: ForwardRequest = {
      input: input.data,
      inputShape: input.shape,
      latent,
      t,
      noise,
      ...(classIndex !== undefined ? { classIndex } : {}),
      taps,
      final,
    };
    // Cold start on its own: every pipeline of this forward is created ahead, in parallel.
    const tp = performance.now();
    const pipelines = await prepareForward(ctx, weights, req);
    const prepareMs = performance.now() - tp;
    const t0 = performance.now();
    const r = await forwardClip(ctx, weights, req);
    const ms = performance.now() - t0;
    const tensors: TensorToWrite[] = [];
    if (r.latent) {
      tensors.push({ name: 'latent', shape: r.latentShape, data: r.latent });
    }
    tensors.push({ name: 'z_t', shape: r.latentShape, data: r.zt });
    for (const [l, b] of r.blocks) {
      tensors.push({ name: `block.${l}`, shape: b.shape, data: b.data });
    }
    if (r.vPred) {
      tensors.push({ name: 'v_pred', shape: r.vPred.shape, data: r.vPred.data });
    }
    await writeSafetensors(out, tensors, { config: cfg.name, t: String(t), weights: weights.source, dtype });
    weights.dispose();
    process.stderr.write(
      `walt forward: ${cfg.name} on ${ctx.adapter.name}: ${tensors.map((x) => x.name).join(', ')} → ${out} ` +
        `(forward ${(ms / 1000).toFixed(2)} s; cold start: ${pipelines} pipelines in ${(prepareMs / 1000).toFixed(2)} s)\n`,
    );
    if (flag(values, 'stats')) {
      const m = ctx.memory();
      const stats = {
        memory: {
          pool_mb: m.capBytes / 2 ** 20,
          peak_bytes: m.peakBytesAllocated,
          buffers_created: m.buffersCreated,
          buffers_reused: m.buffersReused,
        },
        time: { prepare_ms: Math.round(prepareMs), forward_ms: Math.round(ms), pipelines },
      };
      process.stdout.write(`${JSON.stringify(stats)}\n`);
    }
  } finally {
    await ctx.close();
  }
  return 0;
}

export const CONVERT_HELP = `walt convert IN.npz --out W.safetensors [--rename map.json] [--config NAME] [--dtype f32|f16]

Converts an .npz of named arrays (e.g. numpy.savez of a checkpoint) to safetensors. Array names
are kept, with '/' turned into '.' (flax-style paths), then renamed by --rename (a JSON object
{"old name": "canonical name"}). With --config the result is checked against the config's
canonical tensor list and every missing, unknown or mis-shaped tensor is reported.
`;

export async function convertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'convert',
    argv,
    { out: { type: 'string' }, rename: { type: 'string' }, config: { type: 'string' }, dtype: { type: 'string' } },
    true,
  );
  if (flag(values, 'help') || positionals.length !== 1) {
    process.stdout.write(CONVERT_HELP);
    return flag(values, 'help') ? 0 : 2;
  }
  const { readNpz } = await import('../io/npz.js');
  const { readFileSync } = await import('node:fs');
  const arrays = readNpz(positionals[0]!);
  const rename = optStr(values, 'rename')
    ? (JSON.parse(readFileSync(str(values, 'rename'), 'utf8')) as Record<string, string>)
    : {};
  const dtype = parseFloatDType(str(values, 'dtype', 'f32'));
  const tensors = arrays.map((a) => {
    const base = a.name.replaceAll('/', '.');
    return {
      name: rename[a.name] ?? rename[base] ?? base,
      shape: a.shape,
      data: a.data,
      dtype: dtype === 'f16' ? ('F16' as const) : ('F32' as const),
    };
  });
  const out = str(values, 'out');
  if (optStr(values, 'config')) {
    const { validateWeights } = await import('../model/weights.js');
    const cfg = loadConfig(str(values, 'config'));
    validateWeights(
      {
        path: positionals[0]!,
        tensors: new Map(
          tensors.map((t) => [t.name, { name: t.name, dtype: 'F32', shape: t.shape, offset: 0, byteLength: 0 }]),
        ),
      },
      cfg,
      true,
    );
  }
  await writeSafetensors(out, tensors, { converted_from: positionals[0]! });
  process.stderr.write(`walt convert: ${tensors.length} tensors → ${out}\n`);
  return 0;
}
