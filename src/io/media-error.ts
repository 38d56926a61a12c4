// MediaError: the one error type the media-input layer reports for a bad input file.

/**
 * Why an input could not be turned into a clip.
 *
 * - `missing`: the path does not exist.
 * - `unreadable`: it exists but cannot be read (permissions, or it is a directory that cannot be listed).
 * - `unsupported`: the file extension is not one the layer handles.
 * - `not-media`: the content is not media at all (e.g. a text file named `.mp4`).
 * - `empty`: the file has 0 bytes.
 * - `truncated`: the file ends early (interrupted copy/download, unfinished recording).
 * - `corrupt`: ffmpeg cannot decode it for another reason.
 * - `no-frames`: the container opens but holds no decodable video frame (or no video stream).
 * - `bad-npy`: a `.npy` clip with the wrong shape, dtype, layout or value range.
 * - `no-ffmpeg`: no working ffmpeg binary was found.
 * - `interrupted`: the decoder was stopped by a signal from outside (e.g. a job scheduler's SIGTERM to every
 *   process); not the file's fault, so an extraction run does not record it and a rerun decodes the file again.
 * - `internal`: an unexpected failure (a bug, or ffmpeg crashing); the message carries the details.
 */
export type MediaErrorReason =
  | 'missing'
  | 'unreadable'
  | 'unsupported'
  | 'not-media'
  | 'empty'
  | 'truncated'
  | 'corrupt'
  | 'no-frames'
  | 'bad-npy'
  | 'no-ffmpeg'
  | 'interrupted'
  | 'internal';

/** Fields of a {@link MediaError}. */
export interface MediaErrorInit {
  /** Resolved absolute path of the input. */
  path: string;
  /** The path as the user wrote or the directory walk found it (used in the message); defaults to `path`. */
  source?: string;
  /** Machine-readable category. */
  reason: MediaErrorReason;
  /** What is wrong, e.g. "ffmpeg could not decode it (moov atom not found: ...)". */
  problem: string;
  /** What to do about it, e.g. "re-encode or remove it". */
  action: string;
  /** Raw diagnostic text (ffmpeg error lines), if any. */
  detail?: string;
}

/**
 * A bad input file. The message always reads `<file>: <what is wrong>; <what to do>`, e.g.
 * `clip.mp4: ffmpeg could not decode it (moov atom not found: the file is truncated or not an MP4); re-encode or remove it`.
 */
export class MediaError extends Error {
  /** Resolved absolute path of the input. */
  readonly path: string;
  /** The path as written by the user / found in a directory. */
  readonly source: string;
  /** Machine-readable category. */
  readonly reason: MediaErrorReason;
  /** Raw diagnostic text (ffmpeg error lines), if any. */
  readonly detail: string | undefined;

  /** Builds the error; see {@link MediaErrorInit}. */
  constructor(init: MediaErrorInit) {
    const source = init.source ?? init.path;
    super(`${source}: ${init.problem}; ${init.action}`);
    this.name = 'MediaError';
    this.path = init.path;
    this.source = source;
    this.reason = init.reason;
    this.detail = init.detail;
  }
}

/** True when `e` is a {@link MediaError} (also across module copies, by name and shape). */
export function isMediaError(e: unknown): e is MediaError {
  return (
    e instanceof MediaError ||
    (e instanceof Error && e.name === 'MediaError' && typeof (e as Partial<MediaError>).reason === 'string')
  );
}
