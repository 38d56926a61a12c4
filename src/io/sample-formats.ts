// makeFormatSample: a folder of short clips in many codecs and containers with the quirks of real
// footage (upper-case extensions, B-frames, MPEG-TS/M2TS, stills, a cinepak AVI with empty packets,
// an MP4 edit list), synthesized with ffmpeg's lavfi sources for the format tests.

import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorLines, findFfmpeg, listEncoders, runFfmpeg, type FfmpegInfo } from './ffmpeg.js';
import { exists } from './sample-fs.js';

/** One file of {@link makeFormatSample}. */
export interface FormatFile {
  /** File name inside the folder, e.g. `d.ts`. */
  name: string;
  path: string;
  kind: 'video' | 'image';
  /** ffmpeg codec name as it decodes (`h264`, `cinepak`, …). */
  codec: string;
  /** Decodable frames (1 for an image). */
  frames: number;
  /** Packets the container holds (more than `frames` for the cinepak AVI and the edit-list mp4). */
  packets: number;
  /** What the file exercises. */
  note: string;
}

interface FormatSpec {
  name: string;
  kind: 'video' | 'image';
  codec: string;
  /** Encoder that must exist. */
  encoder: string;
  args: string[];
  frames: number;
  packets?: number;
  note: string;
}

const FORMATS: FormatSpec[] = [
  // The seven extensions a mixed folder of real footage often has (upper-case MP4 included).
  {
    name: 'a.MP4',
    kind: 'video',
    codec: 'h264',
    encoder: 'libx264',
    args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
    frames: 40,
    note: 'H.264 in MP4, upper-case extension',
  },
  {
    name: 'b.m4v',
    kind: 'video',
    codec: 'h264',
    encoder: 'libx264',
    args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mp4'],
    frames: 40,
    note: 'H.264, .m4v',
  },
  {
    name: 'c.mpg',
    kind: 'video',
    codec: 'mpeg1video',
    encoder: 'mpeg1video',
    args: ['-c:v', 'mpeg1video'],
    frames: 40,
    note: 'MPEG-1 program stream',
  },
  {
    name: 'd.ts',
    kind: 'video',
    codec: 'mpeg2video',
    encoder: 'mpeg2video',
    args: ['-c:v', 'mpeg2video'],
    frames: 40,
    note: 'MPEG-2 in MPEG-TS',
  },
  { name: 'e.gif', kind: 'video', codec: 'gif', encoder: 'gif', args: [], frames: 40, note: 'animated GIF' },
  {
    name: 'f.webp',
    kind: 'image',
    codec: 'webp',
    encoder: 'libwebp',
    args: ['-frames:v', '1', '-c:v', 'libwebp'],
    frames: 1,
    note: 'WebP still',
  },
  {
    name: 'g.jpeg',
    kind: 'image',
    codec: 'mjpeg',
    encoder: 'mjpeg',
    args: ['-frames:v', '1'],
    frames: 1,
    note: 'JPEG, .jpeg',
  },
  // More codecs and containers.
  {
    name: 'h.mkv',
    kind: 'video',
    codec: 'hevc',
    encoder: 'libx265',
    args: ['-c:v', 'libx265', '-pix_fmt', 'yuv420p', '-x265-params', 'log-level=error'],
    frames: 40,
    note: 'HEVC in Matroska (B-frames)',
  },
  {
    name: 'i.webm',
    kind: 'video',
    codec: 'vp9',
    encoder: 'libvpx-vp9',
    args: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8'],
    frames: 40,
    note: 'VP9 in WebM',
  },
  {
    name: 'j.wmv',
    kind: 'video',
    codec: 'wmv2',
    encoder: 'wmv2',
    args: ['-c:v', 'wmv2'],
    frames: 40,
    note: 'WMV8 in ASF',
  },
  {
    name: 'k.flv',
    kind: 'video',
    codec: 'flv1',
    encoder: 'flv',
    args: ['-c:v', 'flv'],
    frames: 40,
    note: 'Sorenson in FLV',
  },
  {
    name: 'l.ogv',
    kind: 'video',
    codec: 'theora',
    encoder: 'libtheora',
    args: ['-c:v', 'libtheora'],
    frames: 40,
    note: 'Theora in Ogg',
  },
  {
    name: 'm.mov',
    kind: 'video',
    codec: 'prores',
    encoder: 'prores',
    args: ['-c:v', 'prores'],
    frames: 40,
    note: 'ProRes in QuickTime',
  },
  {
    name: 'n.3gp',
    kind: 'video',
    codec: 'h263',
    encoder: 'h263',
    args: ['-c:v', 'h263', '-s', '128x96'],
    frames: 40,
    note: 'H.263 in 3GP',
  },
  {
    name: 'o.m2ts',
    kind: 'video',
    codec: 'h264',
    encoder: 'libx264',
    args: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-f', 'mpegts', '-mpegts_m2ts_mode', '1'],
    frames: 40,
    note: 'H.264 in M2TS',
  },
  {
    name: 'p.avi',
    kind: 'video',
    codec: 'msmpeg4v3',
    encoder: 'msmpeg4',
    args: ['-c:v', 'msmpeg4'],
    frames: 40,
    note: 'MS-MPEG4 in AVI',
  },
  {
    name: 'q.bmp',
    kind: 'image',
    codec: 'bmp',
    encoder: 'bmp',
    args: ['-frames:v', '1'],
    frames: 1,
    note: 'BMP still',
  },
  {
    name: 'r.tiff',
    kind: 'image',
    codec: 'tiff',
    encoder: 'tiff',
    args: ['-frames:v', '1'],
    frames: 1,
    note: 'TIFF still',
  },
  // A capture tool's AVI: 68 cinepak frames on a 30 fps grid of 444, the gaps stored as empty packets
  // (the container lists 444 frames; 68 decode).
  {
    name: 'capture-cinepak.avi',
    kind: 'video',
    codec: 'cinepak',
    encoder: 'cinepak',
    args: ['-vf', 'setpts=trunc(N*443/67)/30/TB', '-c:v', 'cinepak', '-vsync', 'vfr', '-r', '30'],
    frames: 68,
    packets: 444,
    note: 'the container lists 444 frames, 68 decode',
  },
];

/**
 * A folder of short clips (96×64, 40 frames at 24 fps unless noted) in many codecs and containers,
 * with the quirks of real footage: upper-case extensions, B-frames, MPEG-TS/M2TS, an animated GIF,
 * stills in WebP/BMP/TIFF, a cinepak AVI whose container lists 444 frames of which 68 decode, and
 * an MP4 cut without re-encoding (an edit list: 40 packets, fewer decodable frames). Files whose
 * encoder the ffmpeg lacks are listed in `skipped`. Existing files are kept.
 */
export async function makeFormatSample(
  dir: string,
  opts: { ffmpeg?: FfmpegInfo } = {},
): Promise<{ dir: string; files: FormatFile[]; skipped: string[] }> {
  const ff = opts.ffmpeg ?? (await findFfmpeg());
  const have = await listEncoders(ff);
  await mkdir(dir, { recursive: true });
  const files: FormatFile[] = [];
  const skipped: string[] = [];
  const make = async (spec: FormatSpec, args: string[]): Promise<void> => {
    const path = join(dir, spec.name);
    if (!(await exists(path))) {
      const tmp = join(dir, `.${spec.name}.tmp-${process.pid}${spec.name.slice(spec.name.lastIndexOf('.'))}`);
      const r = await runFfmpeg(ff, ['-y', ...args, `file:${tmp}`]);
      if (r.code !== 0) {
        await rm(tmp, { force: true });
        throw new Error(`ffmpeg failed making ${spec.name}: ${errorLines(r.log).join('; ')}`);
      }
      await rename(tmp, path);
    }
    files.push({
      name: spec.name,
      path,
      kind: spec.kind,
      codec: spec.codec,
      frames: spec.frames,
      packets: spec.packets ?? spec.frames,
      note: spec.note,
    });
  };
  for (const spec of FORMATS) {
    if (!have.has(spec.encoder) && spec.encoder !== 'gif') {
      skipped.push(`${spec.name} (no ${spec.encoder} encoder)`);
      continue;
    }
    const rate = spec.codec === 'cinepak' ? 30 : 24;
    const frames = spec.codec === 'cinepak' ? 68 : 40;
    const src = `testsrc2=size=96x64:rate=${rate}`;
    const image = spec.kind === 'image' ? ['-update', '1', '-f', 'image2'] : [];
    await make(spec, ['-f', 'lavfi', '-i', src, '-frames:v', String(frames), ...spec.args, ...image]);
  }
  // An MP4 cut without re-encoding from 0.9 s: the packets before the cut decode but are dropped.
  const mp4 = files.find((f) => f.name === 'a.MP4');
  if (mp4) {
    const cut: FormatSpec = {
      name: 'cut-editlist.mp4',
      kind: 'video',
      codec: 'h264',
      encoder: 'libx264',
      args: [],
      frames: 18,
      packets: 40,
      note: 'an edit list: 40 packets, 18 decodable frames',
    };
    await make(cut, ['-ss', '0.9', '-i', `file:${mp4.path}`, '-c', 'copy', '-f', 'mp4']);
  }
  return { dir, files, skipped };
}
