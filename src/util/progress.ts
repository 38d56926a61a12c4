// Progress for long work: a bar with rate and ETA on a terminal (cli-progress), plain lines
// on stderr otherwise (every `everyMs`).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, extra?: string): void;
  stop(): void;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) {
    return '?';
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function progress(
  label: string,
  total: number,
  unit: string,
  opts: { everyMs?: number; stream?: NodeJS.WriteStream } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  const t0 = performance.now();
  const rate = (done: number): number => done / Math.max((performance.now() - t0) / 1000, 1e-9);
  if (stream.isTTY && process.env.CI === undefined) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} {extra}`,
        stream,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.00', extra: '' });
    return {
      update: (done, extra = '') => bar.update(done, { rate: rate(done).toFixed(2), extra }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  const every = opts.everyMs ?? 10_000;
  return {
    update: (done, extra = '') => {
      const now = performance.now();
      if (now - last < every && done < total) {
        return;
      }
      last = now;
      const r = rate(done);
      const eta = r > 0 ? (total - done) / r : Infinity;
      stream.write(
        `${label}: ${done}/${total} ${unit} (${((100 * done) / Math.max(total, 1)).toFixed(1)}%), ${r.toFixed(2)} ${unit}/s, ETA ${formatDuration(eta)}${extra ? ` ${extra}` : ''}\n`,
      );
    },
    stop: () => undefined,
  };
}
