// The PyTorch reference (tools/reference/walt_ref.py) as a bench peer on the same machine:
// Debian's python3-torch under /usr/bin/python3 (CPU here; CUDA where the machine has it).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TorchBench {
  impl: string;
  device: string;
  dtype: string;
  encoder_ms: number;
  denoiser_ms: number;
  total_ms: number;
  torch_version: string;
  threads: number;
}

/** Finds tools/reference/walt_ref.py next to the CLI (repo checkout) or the cwd. */
function refScript(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [
    join(here, '..', 'tools', 'reference', 'walt_ref.py'),
    join(process.cwd(), 'tools', 'reference', 'walt_ref.py'),
  ]) {
    if (existsSync(p)) {
      return p;
    }
  }
  return null;
}

/**
 * Times the reference model (encoder and denoiser apart). Returns null with a reason when
 * PyTorch is not installed (`apt-get install python3-torch`) or the run fails.
 */
export function torchBench(opts: {
  config: string;
  frames: number;
  size: number;
  dtype: 'float32' | 'bfloat16' | 'float16';
  device: 'cpu' | 'cuda';
  noTf32?: boolean;
  runs: number;
  warmup: number;
  timeoutMs: number;
}): { result?: TorchBench; skipped?: string } {
  const script = refScript();
  const python = process.env.WALT_PYTHON ?? '/usr/bin/python3';
  if (!script) {
    return { skipped: 'tools/reference/walt_ref.py not found (run from the repository)' };
  }
  const args = [
    script,
    'bench',
    '--config',
    opts.config,
    '--frames',
    String(opts.frames),
    '--size',
    String(opts.size),
    '--dtype',
    opts.dtype,
    '--device',
    opts.device,
    '--runs',
    String(opts.runs),
    '--warmup',
    String(opts.warmup),
    '--json',
    ...(opts.noTf32 ? ['--no-tf32'] : []),
  ];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: opts.timeoutMs, maxBuffer: 1 << 24 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : ((r.stderr || '').trim().split('\n').slice(-1)[0] ?? `exit ${r.status}`);
    return {
      skipped: `pytorch reference: ${why}${/No module named 'torch'/.test(r.stderr ?? '') ? ' (apt-get install python3-torch)' : ''}`,
    };
  }
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) {
    return { skipped: 'pytorch reference printed no JSON' };
  }
  return { result: JSON.parse(line) as TorchBench };
}
