// walt info: the device report, or a config and its parameter counts.
import { NoAdapterError, requestAdapter } from '../gpu/adapter.js';
import { GpuContext } from '../gpu/context.js';
import { layerWindow, loadConfig, tokenGrid } from '../model/config.js';
import { paramCounts } from '../model/spec.js';
import { flag, optStr, parse } from './args.js';

/** Every adapter Dawn can see ("backend: name"): Dawn lists them when no adapter matches a name. */
async function listAdapters(): Promise<string[]> {
  try {
    await requestAdapter({ adapter: '\u0001no-such-adapter' });
    return [];
  } catch (e) {
    const lines = e instanceof NoAdapterError ? e.message.split('\n') : [];
    return lines.filter((l) => l.trim().startsWith('*')).map((l) => l.replace(/^\s*\*\s*/, '').trim());
  }
}

export const INFO_HELP = `walt info [--config NAME|PATH.json] [--image-model] [--json] [--adapter NAME]

Without --config: the WebGPU adapter walt would use (software adapters are labelled), its
features and limits, and every adapter Dawn can see.
With --config: the configuration and its parameter counts (total, encoder, denoiser); no GPU needed.
`;

const fmt = (n: number): string => n.toLocaleString('en-US');

export async function infoCommand(argv: string[]): Promise<number> {
  const { values } = parse('info', argv, {
    config: { type: 'string' },
    'image-model': { type: 'boolean' },
    json: { type: 'boolean' },
    adapter: { type: 'string' },
  });
  if (flag(values, 'help')) {
    process.stdout.write(INFO_HELP);
    return 0;
  }
  const configName = optStr(values, 'config');
  if (configName) {
    const cfg = loadConfig(configName, { imageModel: flag(values, 'image-model') });
    const counts = paramCounts(cfg);
    const d = cfg.denoiser;
    const grid = tokenGrid(d);
    const layers = Array.from({ length: d.layers }, (_, i) => layerWindow(d, i));
    if (flag(values, 'json')) {
      process.stdout.write(
        `${JSON.stringify({
          config: cfg.name,
          description: cfg.description,
          params: counts,
          total: counts.total,
          encoder: counts.encoder,
          denoiser: counts.denoiser,
          pixels: cfg.pixels,
          latent: [...d.latent, cfg.encoder.latentChannels],
          tokens: grid[0] * grid[1] * grid[2],
          layers: layers.map((l) => `${l.kind}:${l.window.join('x')}`),
          encoderConfig: cfg.encoder,
          denoiserConfig: d,
        })}\n`,
      );
      return 0;
    }
    const spatial = layers.filter((l) => l.kind === 'spatial').length;
    process.stdout.write(
      [
        `config      ${cfg.name}: ${cfg.description}`,
        `parameters  ${fmt(counts.total)} total = encoder ${fmt(counts.encoder)} + denoiser ${fmt(counts.denoiser)}`,
        `pixels      ${cfg.pixels.join('x')}x3 → latent ${d.latent.join('x')}x${cfg.encoder.latentChannels} → ${grid.join('x')} = ${grid[0] * grid[1] * grid[2]} tokens (patch ${d.patch})`,
        `encoder     ${cfg.encoder.channels} channels × (${cfg.encoder.multipliers.join(',')}), ${cfg.encoder.resBlocks} res blocks/level, ${cfg.encoder.midBlocks} mid, GroupNorm ${cfg.encoder.groups} (per frame)`,
        `denoiser    ${d.layers} layers × ${d.width}, ${d.heads} heads of ${d.width / d.heads}, MLP ×${d.mlpRatio}, AdaLN ${d.adaln === 'lora' ? `LoRA r=${d.loraRank}` : 'separate'}, ${d.numClasses} classes + null`,
        `windows     ${spatial} spatial ${d.spatialWindow.join('x')}${d.layers - spatial > 0 ? `, ${d.layers - spatial} spatiotemporal ${d.spatiotemporalWindow.join('x')}` : ''}${d.imageModel ? ' (image model)' : ''}`,
        '',
      ].join('\n'),
    );
    return 0;
  }
  const adapter = optStr(values, 'adapter');
  const ctx = await GpuContext.create(adapter ? { adapter } : {});
  try {
    const lim = ctx.caps.limits;
    const report = {
      adapter: ctx.adapter,
      software: ctx.adapter.isSoftware,
      shaderF16: ctx.caps.f16,
      subgroups: ctx.caps.subgroups,
      timestampQuery: ctx.device.features.has('timestamp-query'),
      limits: {
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
        maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
        minStorageBufferOffsetAlignment: lim.minStorageBufferOffsetAlignment,
      },
      adapters: await listAdapters(),
    };
    if (flag(values, 'json')) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      const a = ctx.adapter;
      process.stdout.write(
        [
          `adapter     ${a.name}${a.isSoftware ? '  (SOFTWARE: correct results, not GPU speed)' : ''}`,
          `vendor      ${a.vendor} / ${a.architecture} / ${a.device}`,
          `features    shader-f16 ${report.shaderF16 ? 'yes' : 'no'}, subgroups ${report.subgroups ? `yes (size ${a.subgroupMinSize}-${a.subgroupMaxSize})` : 'no'}, timestamp-query ${report.timestampQuery ? 'yes' : 'no'}`,
          `limits      storage binding ${fmt(lim.maxStorageBufferBindingSize)} B, buffer ${fmt(lim.maxBufferSize)} B, workgroup storage ${fmt(lim.maxComputeWorkgroupStorageSize)} B, ${lim.maxStorageBuffersPerShaderStage} storage buffers/stage`,
          `adapters    ${report.adapters.join('; ') || '(none listed)'}`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    await ctx.close();
  }
  return 0;
}
