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
    throw new UsageError(`walt ${command}: ${e instanceof Error ? e.message : String(e)} (see walt ${command} --help)`);
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

export function flag(v: Record<string, string | boolean | undefined>, name: string): boolean {
  return v[name] === true;
}
