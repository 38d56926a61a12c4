// Locating and running ffmpeg (bundled by @ffmpeg-installer/ffmpeg, or the system one on PATH).

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

/** The ffmpeg binary in use. */
export interface FfmpegInfo {
  /** Absolute path of the binary. */
  path: string;
  /** `bundled`: from the `@ffmpeg-installer/ffmpeg` npm package; `system`: `ffmpeg` on PATH. */
  source: 'bundled' | 'system';
  /** Version string from `ffmpeg -version`, e.g. `N-47683-g0e8eb07980-static` or `6.1.1`. */
  version: string;
}

/** One line of ffmpeg's log, as printed with `-loglevel level+info`. */
export interface FfmpegLogLine {
  level: 'panic' | 'fatal' | 'error' | 'warning' | 'info' | 'verbose' | 'debug' | 'trace';
  /** The text without the `[component @ 0x...]` and `[level]` prefixes. */
  text: string;
}

/** Result of one ffmpeg run. */
export interface FfmpegResult {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  /** Signal that ended the process, if any. */
  signal: NodeJS.Signals | null;
  /** Everything ffmpeg wrote to stdout. */
  stdout: Buffer;
  /** Parsed stderr log. */
  log: FfmpegLogLine[];
  /** True when the run hit its time limit and was killed. */
  timedOut: boolean;
}

/** Options for {@link runFfmpeg}. */
export interface RunFfmpegOptions {
  /** Abort the run (the process is killed). */
  signal?: AbortSignal;
  /** Kill the process after this many milliseconds (default 300 000). */
  timeoutMs?: number;
  /** Expected stdout size in bytes; lets the runner preallocate one buffer. */
  expectBytes?: number;
}

/** What to do when no ffmpeg works. */
export const FFMPEG_INSTALL_HINT = 'run `npm install` (it ships a static ffmpeg) or install ffmpeg on PATH';

/** Thrown by {@link findFfmpeg} when neither the bundled nor a system ffmpeg runs. */
export class FfmpegNotFoundError extends Error {
  /** Each candidate tried, with why it failed. */
  readonly tried: string[];
  constructor(tried: string[]) {
    super(`no working ffmpeg (tried ${tried.join('; ')}); ${FFMPEG_INSTALL_HINT}`);
    this.name = 'FfmpegNotFoundError';
    this.tried = tried;
  }
}

let cached: Promise<FfmpegInfo> | undefined;

/**
 * Finds a working ffmpeg: first the static binary of `@ffmpeg-installer/ffmpeg`, then `ffmpeg` on PATH.
 * Each candidate must run `ffmpeg -version` successfully. The result is cached for the process.
 *
 * @throws FfmpegNotFoundError when no candidate runs (the message says what was tried and how to fix it).
 */
export function findFfmpeg(): Promise<FfmpegInfo> {
  cached ??= locate().catch((e: unknown) => {
    cached = undefined; // allow a retry after the user installs ffmpeg
    throw e;
  });
  return cached;
}

async function locate(): Promise<FfmpegInfo> {
  const tried: string[] = [];
  const bundled = bundledPath();
  if (bundled.path !== undefined) {
    const v = await versionOf(bundled.path);
    if (v.ok) {
      return { path: bundled.path, source: 'bundled', version: v.version };
    }
    tried.push(`bundled ${bundled.path} (${v.why})`);
  } else {
    tried.push(`bundled @ffmpeg-installer/ffmpeg (${bundled.why})`);
  }
  const onPath = await whichFfmpeg();
  if (onPath === undefined) {
    tried.push('system ffmpeg (not found on PATH)');
  } else {
    const sys = await versionOf(onPath);
    if (sys.ok) {
      return { path: onPath, source: 'system', version: sys.version };
    }
    tried.push(`system ${onPath} (${sys.why})`);
  }
  throw new FfmpegNotFoundError(tried);
}

/** Absolute path of the first executable `ffmpeg` on PATH. */
async function whichFfmpeg(): Promise<string | undefined> {
  const name = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') {
      continue;
    }
    const candidate = join(dir, name);
    const ok = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) {
      return candidate;
    }
  }
  return undefined;
}

function bundledPath(): { path: string; why?: undefined } | { path?: undefined; why: string } {
  try {
    // createRequire keeps the package external to bundles: it resolves from the installed node_modules at run time.
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    if (typeof mod.path === 'string' && mod.path.length > 0) {
      return { path: mod.path };
    }
    return { why: 'package exports no path' };
  } catch (e) {
    // The package throws a plain string when its platform binary is missing.
    return { why: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
  }
}

async function versionOf(bin: string): Promise<{ ok: true; version: string } | { ok: false; why: string }> {
  try {
    const r = await runRaw(bin, ['-hide_banner', '-version'], { timeoutMs: 20_000 });
    const text = r.stdout.toString('utf8');
    const m = /ffmpeg version (\S+)/.exec(text);
    if (r.code === 0 && m) {
      return { ok: true, version: m[1]! };
    }
    return { ok: false, why: r.code === 0 ? 'unexpected -version output' : `exit code ${r.code}` };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
}

/** Lists the encoder names of an ffmpeg binary (`ffmpeg -encoders`), e.g. `libx264`, `mjpeg`. */
export async function listEncoders(ff: FfmpegInfo): Promise<Set<string>> {
  const r = await runRaw(ff.path, ['-hide_banner', '-encoders'], { timeoutMs: 20_000 });
  const names = new Set<string>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const m = /^ ([VAS][A-Z.]{5}) (\S+)/.exec(line);
    if (m && m[2] !== '=') {
      names.add(m[2]!);
    }
  }
  return names;
}

const LEVEL_RE = /^(?:\[[^\]]*? @ 0x[0-9a-f]+\] )?\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ?(.*)$/;

/** Parses stderr printed with `-loglevel level+...` into lines; unprefixed lines inherit the previous level. */
export function parseFfmpegLog(stderr: string): FfmpegLogLine[] {
  const out: FfmpegLogLine[] = [];
  let level: FfmpegLogLine['level'] = 'info';
  for (const raw of stderr.split(/\r\n|\r|\n/)) {
    const line = raw.trimEnd();
    if (line.trim() === '') {
      continue;
    }
    const m = LEVEL_RE.exec(line);
    if (m) {
      level = m[1] as FfmpegLogLine['level'];
      out.push({ level, text: m[2]!.trimEnd() });
    } else {
      out.push({ level, text: line });
    }
  }
  return out;
}

/** Error-level (error, fatal, panic) lines of a log. */
export function errorLines(log: readonly FfmpegLogLine[]): string[] {
  return log.filter((l) => l.level === 'error' || l.level === 'fatal' || l.level === 'panic').map((l) => l.text);
}

/**
 * Runs ffmpeg with `-hide_banner -nostdin -loglevel level+info` prepended, collecting stdout and the parsed log.
 * Rejects only when the process cannot be started (e.g. ENOENT) or the run is aborted.
 */
export async function runFfmpeg(ff: FfmpegInfo, args: string[], opts: RunFfmpegOptions = {}): Promise<FfmpegResult> {
  const r = await runRaw(ff.path, ['-hide_banner', '-nostdin', '-loglevel', 'level+info', ...args], opts);
  return { code: r.code, signal: r.signal, stdout: r.stdout, log: parseFfmpegLog(r.stderr), timedOut: r.timedOut };
}

interface RawResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

function runRaw(bin: string, args: string[], opts: RunFfmpegOptions): Promise<RawResult> {
  return new Promise<RawResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError(opts.signal));
      return;
    }
    // Its own process group: a Ctrl-C on the terminal reaches walt (which finishes the current batch)
    // but not the decoders, so a decode in flight is not cut short and mistaken for a damaged file.
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, detached: true });
    // stdout: one preallocated buffer when the size is known, chunks otherwise.
    let pre: Buffer | undefined = opts.expectBytes !== undefined ? Buffer.allocUnsafe(opts.expectBytes) : undefined;
    let preLen = 0;
    const chunks: Buffer[] = [];
    const errChunks: Buffer[] = [];
    let errLen = 0;
    let timedOut = false;
    let settled = false;

    child.stdout.on('data', (c: Buffer) => {
      if (pre !== undefined && preLen + c.length <= pre.length) {
        c.copy(pre, preLen);
        preLen += c.length;
        return;
      }
      if (pre !== undefined) {
        // More output than expected: switch to chunk collection.
        chunks.push(pre.subarray(0, preLen));
        pre = undefined;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      // Keep at most 1 MiB of log (a broken file can make ffmpeg print the same error forever).
      if (errLen < 1 << 20) {
        errChunks.push(c);
        errLen += c.length;
      }
    });

    const timeoutMs = opts.timeoutMs ?? 300_000;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e) => {
      if (!settled) {
        settled = true;
        finish();
        reject(e);
      }
    });
    child.on('close', (code, signal) => {
      if (settled) {
        return;
      }
      settled = true;
      finish();
      if (opts.signal?.aborted) {
        reject(abortError(opts.signal));
        return;
      }
      const stdout = pre !== undefined ? pre.subarray(0, preLen) : Buffer.concat(chunks);
      resolve({ code, signal, stdout, stderr: Buffer.concat(errChunks).toString('utf8'), timedOut });
    });
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) {
    return reason;
  }
  const e = new Error('the operation was aborted');
  e.name = 'AbortError';
  return e;
}
