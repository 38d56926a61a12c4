// The --head argument of the readout commands: a built-in name, a kind sized by --width,
// --frames, --classes, or a JSON head file; and output-path checks made before any work.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  BUILTIN_HEAD_NAMES,
  HEAD_KEYS,
  HEAD_KINDS,
  HeadSpecError,
  isHeadKind,
  resolveHead,
  type HeadConfig,
  type HeadSizing,
} from '../readout/spec.js';
import { int, str, UsageError, type OptionSpec } from './args.js';

export const HEAD_ARG = `HEAD is one of
  - a built-in head: ${BUILTIN_HEAD_NAMES.join(', ')}
    (the camera-pose head's weights are named readout.camera-pose.*);
  - a kind (${HEAD_KINDS.join(', ')}) sized by --width C (the feature width)
    [--frames T (default 17)] [--classes K (attention)];
  - a JSON head file with exactly "kind", "prefix" ("readout.<name>") and the kind's sizes
    (positive integers):
${HEAD_KINDS.map((k) => `      ${k.padEnd(9)} ${HEAD_KEYS[k].join(', ')}`).join('\n')}`;

export const SIZING_OPTIONS: OptionSpec = {
  width: { type: 'string' },
  frames: { type: 'string' },
  classes: { type: 'string' },
};

/** Resolves --head (with --width/--frames/--classes for a bare kind); errors are usage errors. */
export function headFromArgs(values: Record<string, string | boolean | undefined>): HeadConfig {
  const arg = str(values, 'head');
  const sized = values.width !== undefined || values.frames !== undefined || values.classes !== undefined;
  if (sized && !isHeadKind(arg)) {
    throw new UsageError(
      `--width/--frames/--classes size a head kind (${HEAD_KINDS.join(', ')}); '${arg}' is not one (drop them)`,
    );
  }
  let sizing: HeadSizing | undefined;
  if (sized) {
    const K = values.classes === undefined ? undefined : int(values, 'classes', undefined, 1);
    sizing = {
      C: int(values, 'width', undefined, 1),
      T: int(values, 'frames', 17, 1),
      ...(K === undefined ? {} : { K }),
    };
  }
  try {
    return resolveHead(arg, sizing ? { sizing } : {});
  } catch (e) {
    if (e instanceof HeadSpecError) {
      throw new UsageError(`--head: ${e.message}`);
    }
    throw e;
  }
}

/** Checks that `out` can be written (its folder exists, it is not a folder) before any work. */
export function checkOutPath(option: string, out: string): void {
  const dir = dirname(resolve(out));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`--${option} ${out}: the folder ${dir} does not exist (create it first)`);
  }
  if (existsSync(out) && statSync(out).isDirectory()) {
    throw new UsageError(`--${option} ${out} is a folder; give a file name like ${out}/weights.safetensors`);
  }
}
