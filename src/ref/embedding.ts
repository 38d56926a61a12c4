// CPU references (f64) for the additive/structural ops of the readouts: learned temporal
// position embedding (OC5), embedding lookup, residual add, channel concat, and the camera
// readout's first/last-frame concat (OC8). Forward and backward.
import { checkDims, checkLength } from './gradcheck.js';

/**
 * Learned temporal position embedding added broadcast over tokens (OC5, kauldron
 * `LearnedEmbedding` on axis −3): y[b, t, n, c] = x[b, t, n, c] + pe[t, c].
 *
 * @param x `[B, T, N, C]` (B = 1 for one clip `[T, N, C]`)
 * @param pe `[T, C]`
 * @returns `y` `[B, T, N, C]`
 */
export function addTemporalPosencForward(
  x: ArrayLike<number>,
  pe: ArrayLike<number>,
  batch: number,
  frames: number,
  tokens: number,
  channels: number,
): { y: Float64Array } {
  checkDims({ frames, channels });
  checkDims({ batch, tokens }, false);
  checkLength(
    'x',
    x,
    batch * frames * tokens * channels,
    `[B, T, N, C] = [${batch}, ${frames}, ${tokens}, ${channels}]`,
  );
  checkLength('pe', pe, frames * channels, `[T, C] = [${frames}, ${channels}]`);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const t = Math.floor(i / (tokens * channels)) % frames;
    y[i] = x[i]! + pe[t * channels + (i % channels)]!;
  }
  return { y };
}

/**
 * Temporal position embedding backward: dx = dy, dpe[t, c] = Σ_{b, n} dy[b, t, n, c].
 *
 * @param dy `[B, T, N, C]`
 * @returns `dx` `[B, T, N, C]`, `dpe` `[T, C]`
 */
export function addTemporalPosencBackward(
  dy: ArrayLike<number>,
  batch: number,
  frames: number,
  tokens: number,
  channels: number,
): { dx: Float64Array; dpe: Float64Array } {
  checkDims({ frames, channels });
  checkDims({ batch, tokens }, false);
  checkLength(
    'dy',
    dy,
    batch * frames * tokens * channels,
    `[B, T, N, C] = [${batch}, ${frames}, ${tokens}, ${channels}]`,
  );
  const dpe = new Float64Array(frames * channels);
  for (let i = 0; i < dy.length; i++) {
    const j = (Math.floor(i / (tokens * channels)) % frames) * channels + (i % channels);
    dpe[j] = dpe[j]! + dy[i]!;
  }
  return { dx: Float64Array.from(dy), dpe };
}

/**
 * Embedding lookup (e.g. a class embedding table): y[r, c] = table[ids[r], c].
 *
 * @param table `[V, C]`
 * @param ids `[R]` integers in [0, V)
 * @returns `y` `[R, C]`
 */
export function embeddingLookupForward(
  table: ArrayLike<number>,
  ids: ArrayLike<number>,
  vocab: number,
  channels: number,
): { y: Float64Array } {
  checkIds(table, ids, vocab, channels);
  const y = new Float64Array(ids.length * channels);
  for (let r = 0; r < ids.length; r++) {
    for (let c = 0; c < channels; c++) {
      y[r * channels + c] = table[ids[r]! * channels + c]!;
    }
  }
  return { y };
}

/**
 * Embedding lookup backward (scatter-add): dtable[v, c] = Σ_{r : ids[r] = v} dy[r, c].
 *
 * @param dy `[R, C]`
 * @returns `dtable` `[V, C]`
 */
export function embeddingLookupBackward(
  dy: ArrayLike<number>,
  ids: ArrayLike<number>,
  vocab: number,
  channels: number,
): { dtable: Float64Array } {
  checkDims({ vocab, channels });
  checkLength('dy', dy, ids.length * channels, `[R, C] = [${ids.length}, ${channels}]`);
  checkIds(null, ids, vocab, channels);
  const dtable = new Float64Array(vocab * channels);
  for (let r = 0; r < ids.length; r++) {
    for (let c = 0; c < channels; c++) {
      const j = ids[r]! * channels + c;
      dtable[j] = dtable[j]! + dy[r * channels + c]!;
    }
  }
  return { dtable };
}

function checkIds(table: ArrayLike<number> | null, ids: ArrayLike<number>, vocab: number, channels: number): void {
  checkDims({ vocab, channels });
  if (table) {
    checkLength('table', table, vocab * channels, `[V, C] = [${vocab}, ${channels}]`);
  }
  for (let r = 0; r < ids.length; r++) {
    const v = ids[r]!;
    if (!Number.isInteger(v) || v < 0 || v >= vocab) {
      throw new RangeError(`ids[${r}]: ${v} is not an integer index in [0, ${vocab})`);
    }
  }
}

/** Residual add: y = a + b (same shape). */
export function residualAddForward(a: ArrayLike<number>, b: ArrayLike<number>): { y: Float64Array } {
  checkLength('b', b, a.length, 'like a');
  return { y: Float64Array.from({ length: a.length }, (_, i) => a[i]! + b[i]!) };
}

/** Residual add backward: da = dy, db = dy (two independent copies). */
export function residualAddBackward(dy: ArrayLike<number>): { da: Float64Array; db: Float64Array } {
  return { da: Float64Array.from(dy), db: Float64Array.from(dy) };
}

/**
 * Concatenation on the last (channel) dim: y[r, :] = x_0[r, :] ‖ x_1[r, :] ‖ …
 *
 * @param inputs k arrays `[R, C_i]`
 * @param widths the C_i
 * @returns `y` `[R, Σ C_i]`
 */
export function concatChannelsForward(
  inputs: readonly ArrayLike<number>[],
  rows: number,
  widths: readonly number[],
): { y: Float64Array } {
  checkConcat(rows, widths);
  if (inputs.length !== widths.length) {
    throw new RangeError(`inputs: ${inputs.length} arrays but ${widths.length} widths; pass one width per input`);
  }
  const total = widths.reduce((s, w) => s + w, 0);
  const y = new Float64Array(rows * total);
  let off = 0;
  inputs.forEach((x, k) => {
    const w = widths[k]!;
    checkLength(`inputs[${k}]`, x, rows * w, `[R, C_${k}] = [${rows}, ${w}]`);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < w; c++) {
        y[r * total + off + c] = x[r * w + c]!;
      }
    }
    off += w;
  });
  return { y };
}

/**
 * Channel concatenation backward: the slices of dy.
 *
 * @param dy `[R, Σ C_i]`
 * @returns `dinputs` k arrays `[R, C_i]`
 */
export function concatChannelsBackward(
  dy: ArrayLike<number>,
  rows: number,
  widths: readonly number[],
): { dinputs: Float64Array[] } {
  checkConcat(rows, widths);
  const total = widths.reduce((s, w) => s + w, 0);
  checkLength('dy', dy, rows * total, `[R, ΣC] = [${rows}, ${total}]`);
  let off = 0;
  const dinputs = widths.map((w) => {
    const d = new Float64Array(rows * w);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < w; c++) {
        d[r * w + c] = dy[r * total + off + c]!;
      }
    }
    off += w;
    return d;
  });
  return { dinputs };
}

function checkConcat(rows: number, widths: readonly number[]): void {
  checkDims({ rows }, false);
  widths.forEach((w, k) => checkDims({ [`widths[${k}]`]: w }));
}

/**
 * The camera readout's input (OC8): per clip, concat(F[0], F[T−1]) on channels (frame 0 first),
 * y[b, n, :] = f[b, 0, n, :] ‖ f[b, T−1, n, :] (a T = 1 readout input).
 *
 * @param f `[B, T, N, C]`
 * @returns `y` `[B, N, 2C]` (= `[B, 1, N, 2C]`)
 */
export function firstLastConcatForward(
  f: ArrayLike<number>,
  batch: number,
  frames: number,
  tokens: number,
  channels: number,
): { y: Float64Array } {
  checkDims({ frames, channels });
  checkDims({ batch, tokens }, false);
  checkLength(
    'f',
    f,
    batch * frames * tokens * channels,
    `[B, T, N, C] = [${batch}, ${frames}, ${tokens}, ${channels}]`,
  );
  const y = new Float64Array(batch * tokens * 2 * channels);
  for (let b = 0; b < batch; b++) {
    for (let n = 0; n < tokens; n++) {
      for (let c = 0; c < channels; c++) {
        const o = (b * tokens + n) * 2 * channels + c;
        y[o] = f[((b * frames + 0) * tokens + n) * channels + c]!;
        y[o + channels] = f[((b * frames + frames - 1) * tokens + n) * channels + c]!;
      }
    }
  }
  return { y };
}

/**
 * First/last-frame concat backward: df[b, 0] += dy[b, :, :C], df[b, T−1] += dy[b, :, C:], zero on
 * the other frames (both halves land on frame 0 when T = 1).
 *
 * @param dy `[B, N, 2C]`
 * @returns `df` `[B, T, N, C]`
 */
export function firstLastConcatBackward(
  dy: ArrayLike<number>,
  batch: number,
  frames: number,
  tokens: number,
  channels: number,
): { df: Float64Array } {
  checkDims({ frames, channels });
  checkDims({ batch, tokens }, false);
  checkLength('dy', dy, batch * tokens * 2 * channels, `[B, N, 2C] = [${batch}, ${tokens}, ${2 * channels}]`);
  const df = new Float64Array(batch * frames * tokens * channels);
  for (let b = 0; b < batch; b++) {
    for (let n = 0; n < tokens; n++) {
      for (let c = 0; c < channels; c++) {
        const o = (b * tokens + n) * 2 * channels + c;
        const i0 = ((b * frames + 0) * tokens + n) * channels + c;
        const i1 = ((b * frames + frames - 1) * tokens + n) * channels + c;
        df[i0] = df[i0]! + dy[o]!;
        df[i1] = df[i1]! + dy[o + channels]!;
      }
    }
  }
  return { df };
}
