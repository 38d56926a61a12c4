// Option parsing for sub-commands (node:util parseArgs, strict), with errors that name the option.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parse(
  command: string,
  argv: string[],
  options: OptionSpec,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    return { values: r.values, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${parseErrorText(e, command, Object.keys(options))} (see walt ${command} --help)`);
  }
}

/** Levenshtein distance (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** One short line for node:util parseArgs' errors (its own messages run to a paragraph). */
function parseErrorText(e: unknown, command: string, names: readonly string[]): string {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code ?? '';
  const quoted = /'([^']*)'/.exec(msg)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const bare = quoted.replace(/^-+/, '').replace(/=.*$/, '');
      const near = names.filter((n) => distance(n, bare) <= Math.max(1, Math.floor(bare.length / 4)));
      return `unknown option ${quoted}${near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const opt = /'(-[-\w]+)/.exec(msg)?.[1] ?? quoted;
      return /argument missing/.test(msg) ? `${opt} needs a value` : `${opt} does not take a value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}' (walt ${command} takes options only)`;
    default:
      return msg.split('. ')[0]!;
  }
}

export function str(v: Record<string, string | boolean | undefined>, name: string, fallback?: string): string {
  const x = v[name];
  if (typeof x === 'string') {
    return x;
  }
  if (fallback !== undefined) {
    return fallback;
  }
  throw new UsageError(`--${name} is required`);
}

export function optStr(v: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

export function int(
  v: Record<string, string | boolean | undefined>,
  name: string,
  fallback?: number,
  min = -Infinity,
): number {
  const x = v[name];
  if (x === undefined || typeof x === 'boolean') {
    if (fallback === undefined) {
      throw new UsageError(`--${name} is required`);
    }
    return fallback;
  }
  const n = Number(x);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer${min > -Infinity ? ` ≥ ${min}` : ''}, got '${x}'`);
  }
  return n;
}

/** A comma list of integers: "1,2,4". */
export function intList(s: string, name: string): number[] {
  return s
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n)) {
        throw new UsageError(`--${name}: '${x}' is not an integer (expected a comma list like 2,4)`);
      }
      return n;
    });
}

/** `--NAME HxW` (positive integers), or undefined when the option is absent. */
export function gridOpt(v: Record<string, string | boolean | undefined>, name = 'grid'): [number, number] | undefined {
  const x = optStr(v, name);
  if (x === undefined) {
    return undefined;
  }
  const m = /^(\d+)x(\d+)$/.exec(x);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new UsageError(`--${name} ${x}: expected HxW with positive integers, e.g. 128x128`);
  }
  return [Number(m[1]), Number(m[2])];
}

/**
 * A comma list of positive numbers (learning rates): `--NAME 1e-4,3e-4`. A bad entry is named:
 * "--NAME TEXT: 'x' is not a WHAT HINT".
 */
export function positiveList(text: string, name: string, what = 'positive number', hint = ''): number[] {
  return text.split(',').map((raw) => {
    const x = raw.trim();
    const n = Number(x);
    if (x === '' || !Number.isFinite(n) || n <= 0) {
      throw new UsageError(`--${name} ${text}: '${x}' is not a ${what}${hint}`);
    }
    return n;
  });
}

export function flag(v: Record<string, string | boolean | undefined>, name: string): boolean {
  return v[name] === true;
}
