// Decoding media inputs (videos, images, .npy clips) into float32 clips [T, H, W, 3] in [0, 1].
// This is the media layer's import point; the work is split by responsibility:
//   media-options.ts    Clip, loadClip's options and defaults, the sampled window's start
//   media-preflight.ts  file checks and content sniffing before ffmpeg runs
//   media-ffmpeg.ts     running ffmpeg and turning its failures into MediaErrors
//   media-probe.ts      probeVideo: stream facts and frame counts
//   media-decode.ts     videos and images through ffmpeg
//   media-npy.ts        .npy clips

import type { InputItem } from './inputs.js';
import { loadImage, loadVideo } from './media-decode.js';
import { ffmpegFor } from './media-ffmpeg.js';
import { loadNpy } from './media-npy.js';
import { resolveOptions, type Clip, type LoadClipOptions } from './media-options.js';
import { fail, preflight, toItem } from './media-preflight.js';

export { findFfmpeg, type FfmpegInfo } from './ffmpeg.js';
export { MediaError, isMediaError, type MediaErrorReason } from './media-error.js';
export {
  inProcessConverter,
  windowStart,
  type Clip,
  type ClipConverter,
  type ClipStart,
  type LoadClipOptions,
} from './media-options.js';
export { probeVideo, type ProbeOptions, type VideoInfo } from './media-probe.js';

/**
 * Decodes one input into a float clip [T, H, W, 3] in [0, 1].
 *
 * Frame sampling takes source frames `s, s + stride, ...` (T = `frames`); `s` follows `start`. A source shorter than
 * the window repeats its last frame and adds a warning. Videos decode only what is needed (an ffmpeg `select` by
 * frame number, stopping after the last needed frame). Images give `imageFrames` copies of the one frame. `.npy`
 * clips ([T, H, W, 3] or [H, W, 3]; float32/float16/float64 in [0, 1] or uint8 0..255) are sampled the same way.
 *
 * @param item an {@link InputItem} (from {@link expandInputs}) or a path.
 * @throws MediaError for a bad input (missing, unreadable, unsupported, not media, truncated, corrupt, no frames);
 *   RangeError for invalid options; the abort reason when `signal` aborts.
 */
export async function loadClip(item: InputItem | string, opts: LoadClipOptions = {}): Promise<Clip> {
  const it = toItem(item);
  const o = resolveOptions(opts);
  const pre = await preflight(it);
  switch (it.kind) {
    case 'npy':
      return loadNpy(it, o);
    case 'image':
      return loadImage(it, pre, await ffmpegFor(it, opts.ffmpeg), o);
    case 'video':
      return loadVideo(it, pre, await ffmpegFor(it, opts.ffmpeg), o);
    case 'unknown':
      throw fail(it, 'unsupported', 'unsupported file type', 'remove it'); // preflight already rejects these
  }
}
