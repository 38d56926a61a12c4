// The loaders on the real datasets' spellings (numpy's .npz, compressed 16-bit PNGs, ScanNet
// frame names, Waymo center/length/width boxes, CSV quoting) and clear errors on malformed input.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/datasets/errors.js';
import { loadClassification, loadDepthDataset, loadPoseDataset } from '../../src/datasets/index.js';
import { formatLabelsCsv, parseLabelsCsv, readLabelsCsv } from '../../src/datasets/labels-csv.js';
import { decodeNpz, encodeNpz } from '../../src/datasets/npz.js';
import { encodeGray16Png, encodeRgb8Png, readGray16Png } from '../../src/datasets/png.js';
import { formatCameraFile, parseCameraFile, relativePose } from '../../src/datasets/realestate10k.js';
import { listDepthFrames, readDepthClip, toDepthUnits } from '../../src/datasets/scannet.js';
import { readTapVidNpz } from '../../src/datasets/tapvid.js';
import { boxTracks, formatBoxesJson, parseBoxesJson } from '../../src/datasets/waymo-boxes.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'walt-formats-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(rel: string, data: string | Uint8Array): Promise<string> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, data);
  return p;
}

function pngjs16(values: number[], w: number, h: number): Buffer {
  const u16 = Uint16Array.from(values);
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, bitDepth: 16, inputHasAlpha: false });
  png.data = Buffer.from(u16.buffer);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 16, inputHasAlpha: false });
}

describe('labels CSV', () => {
  it('reads headers, quotes, tabs, BOM, CRLF and comments; resolves paths against its folder', () => {
    const text =
      '\uFEFFpath,label\r\n# a comment\r\n"a, b.mp4",left\r\nsub/c.mp4,"rotate-cw"\r\n\r\n/abs/d.mp4,static\r\n';
    const rows = parseLabelsCsv(text, '/data/set/labels.csv');
    expect(rows.map((r) => [r.source, r.path, r.label, r.line])).toEqual([
      ['a, b.mp4', '/data/set/a, b.mp4', 'left', 3],
      ['sub/c.mp4', '/data/set/sub/c.mp4', 'rotate-cw', 4],
      ['/abs/d.mp4', '/abs/d.mp4', 'static', 6],
    ]);
    expect(parseLabelsCsv('x.mp4\tup\n', '/l.csv')[0]!.label).toBe('up');
    expect(parseLabelsCsv(formatLabelsCsv([{ path: 'q "1".mp4', label: 'a,b' }]), '/l.csv')[0]).toMatchObject({
      source: 'q "1".mp4',
      label: 'a,b',
    });
  });

  it('names the file, line and fix for malformed rows', () => {
    expect(() => parseLabelsCsv('path,label\nclip.mp4\n', '/d/labels.csv')).toThrow(
      /\/d\/labels\.csv:2: expected two non-empty fields \(path,label\), found one: 'clip\.mp4'; write one `path,label` pair/,
    );
    expect(() => parseLabelsCsv('a.mp4,b,c\n', '/d/l.csv')).toThrow(/l\.csv:1: .*found 3/);
    expect(() => parseLabelsCsv('"a.mp4,left\n', '/d/l.csv')).toThrow(/no closing quote/);
    expect(() => parseLabelsCsv('path,label\n', '/d/l.csv')).toThrow(/no rows/);
    expect(() => parseLabelsCsv('a.mp4,\n', '/d/l.csv')).toThrow(DatasetError);
  });

  it('lists missing videos with their lines', async () => {
    const csv = await put('missing/labels.csv', 'path,label\nvideos/a.mp4,left\nvideos/b.mp4,up\n');
    await put('missing/videos/a.mp4', 'x');
    await expect(readLabelsCsv(csv)).rejects.toThrow(
      /1 video path not found \(line 3: .*videos\/b\.mp4\); paths resolve against the labels file's folder/,
    );
    await expect(readLabelsCsv(csv, { checkExists: false })).resolves.toHaveLength(2);
  });

  it('sorts classes by name without synth.json, takes given classes, rejects unknown labels', async () => {
    const csv = await put('cls/labels.csv', 'path,label\na.mp4,zebra\nb.mp4,ant\nc.mp4,zebra\n');
    const s = await loadClassification(csv, { checkExists: false });
    expect(s.classes).toEqual(['ant', 'zebra']);
    expect(s.items.map((i) => i.index)).toEqual([1, 0, 1]);
    await expect(loadClassification(csv, { checkExists: false, classes: ['zebra'] })).rejects.toThrow(
      /labels\.csv:3: label 'ant' is not one of the 1 classes \(zebra\)/,
    );
  });
});

describe('npz', () => {
  it("reads numpy's np.savez (zip64 local extras) and np.savez_compressed (deflate) archives", async () => {
    for (const name of ['tapvid-savez.npz', 'tapvid-savez-compressed.npz']) {
      const clip = await readTapVidNpz(join(FIXTURES, name));
      expect([clip.numPoints, clip.numFrames]).toEqual([2, 3]);
      expect(Array.from(clip.points).map((x) => Math.round(x * 1000) / 1000)).toEqual([
        0.1, 0.2, 0.15, 0.25, 0.2, 0.3, 0.9, 0.8, 1.1, 0.7, 1.3, 0.6,
      ]);
      expect(Array.from(clip.occluded)).toEqual([0, 0, 1, 0, 1, 1]);
      expect(clip.video!.shape).toEqual([3, 4, 5, 3]);
      expect(clip.video!.data[179]).toBe(179);
    }
    const all = decodeNpz(await readFile(join(FIXTURES, 'tapvid-savez-compressed.npz')), 'x.npz');
    const extra = all.find((a) => a.name === 'extra')!;
    expect([extra.dtype, Array.from(extra.data)]).toEqual(['i64', [0, 1, 2]]);
  });

  it('writes archives that read back exactly, with bytes that depend only on the arrays', () => {
    const arrays = [
      { name: 'b', dtype: 'bool' as const, shape: [3], data: new Uint8Array([1, 0, 1]) },
      { name: 'f', dtype: 'f32' as const, shape: [1, 7], data: Float32Array.from({ length: 7 }, (_, i) => i / 3) },
      { name: 'i', dtype: 'i32' as const, shape: [2], data: new Int32Array([-5, 97]) },
      { name: 'd', dtype: 'f64' as const, shape: [], data: new Float64Array([Math.PI]) },
    ];
    const a = encodeNpz(arrays);
    expect(a.equals(encodeNpz(arrays))).toBe(true);
    const back = decodeNpz(a, 'mem.npz');
    expect(back.map((x) => [x.name, x.dtype, x.shape, Array.from(x.data)])).toEqual(
      arrays.map((x) => [x.name, x.dtype, x.shape, Array.from(x.data)]),
    );
  });

  it('says which array is missing or malformed, and catches damage', async () => {
    await expect(readTapVidNpz(join(FIXTURES, 'tapvid-no-points.npz'))).rejects.toThrow(
      /no 'points' array \(found: video, occluded\); a TAP-Vid clip holds/,
    );
    const wrong = await put(
      'wrong.npz',
      encodeNpz([
        { name: 'points', dtype: 'f32', shape: [2, 3], data: new Float32Array(6) },
        { name: 'occluded', dtype: 'bool', shape: [2, 3], data: new Uint8Array(6) },
      ]),
    );
    await expect(readTapVidNpz(wrong)).rejects.toThrow(/points has shape \[2,3\]/);
    const good = encodeNpz([{ name: 'points', dtype: 'f32', shape: [4], data: new Float32Array(4) }]);
    await expect(readTapVidNpz(await put('cut.npz', good.subarray(0, good.length - 30)))).rejects.toThrow(DatasetError);
    await expect(readTapVidNpz(await put('text.npz', 'hello'))).rejects.toThrow(/not an \.npz \(zip\) archive/);
    await expect(readTapVidNpz(join(root, 'absent.npz'))).rejects.toThrow(/cannot read the file/);
  });
});

describe('ScanNet depth', () => {
  it('reads compressed 16-bit PNGs (pngjs) as well as our stored ones, in frame-number order', async () => {
    const vals = [0, 1, 999, 1000, 65535, 4242];
    await put('scene0000_00/depth/0.png', pngjs16(vals, 3, 2));
    await put('scene0000_00/depth/2.png', encodeGray16Png(Uint16Array.from(vals.map((v) => v + 2)), 3, 2));
    await put(
      'scene0000_00/depth/10.png',
      pngjs16(
        vals.map((v) => Math.max(0, v - 10)),
        3,
        2,
      ),
    );
    await put(
      'scene0000_00/depth/9.png',
      pngjs16(
        vals.map((v) => Math.max(0, v - 9)),
        3,
        2,
      ),
    );
    const frames = await listDepthFrames(join(root, 'scene0000_00'));
    expect(frames.map((f) => f.split('/').pop())).toEqual(['0.png', '2.png', '9.png', '10.png']);
    const d = await readDepthClip(join(root, 'scene0000_00'));
    expect([d.numFrames, d.height, d.width]).toEqual([4, 2, 3]);
    expect(Array.from(d.metres.subarray(0, 6))).toEqual(vals.map((v) => Math.fround(v / 1000)));
    expect(d.metres[6 + 1]).toBeCloseTo(0.003, 7);
    // ScanNet C++-exporter style names, read from the depth folder itself.
    await put('other/frame-000001.depth.png', pngjs16([5], 1, 1));
    await put('other/frame-000000.depth.png', pngjs16([7], 1, 1));
    expect(Array.from((await readDepthClip(join(root, 'other'))).metres)).toEqual([0.007, 0.005].map(Math.fround));
  });

  it('rejects 8-bit PNGs, size changes and empty folders with the fix', async () => {
    await put('eight/depth/0.png', encodeRgb8Png(new Uint8Array(12), 2, 2));
    await expect(readDepthClip(join(root, 'eight'))).rejects.toThrow(
      /a 8-bit PNG of colour type 2; depth must be a 16-bit greyscale PNG/,
    );
    await put('sizes/depth/0.png', encodeGray16Png(new Uint16Array(4), 2, 2));
    await put('sizes/depth/1.png', encodeGray16Png(new Uint16Array(6), 3, 2));
    await expect(readDepthClip(join(root, 'sizes'))).rejects.toThrow(/3×2, the first frame is 2×2/);
    await mkdir(join(root, 'empty', 'depth'), { recursive: true });
    await expect(listDepthFrames(join(root, 'empty'))).rejects.toThrow(/no depth PNGs/);
    const csv = await put('dl/labels.csv', 'path,label\nv.mp4,scans/none\n');
    await put('dl/v.mp4', 'x');
    await expect(loadDepthDataset(csv)).rejects.toThrow(/1 scene folder path not found \(line 2: .*scans\/none\)/);
  });

  it('converts metres to millimetres as ScanNet stores them', () => {
    expect([0, -1, NaN, Infinity, 0.0001, 0.0004, 1.2345, 70].map(toDepthUnits)).toEqual([
      0, 0, 0, 0, 1, 1, 1235, 65535,
    ]);
  });
});

describe('RealEstate10K camera files', () => {
  const line = (ts: number): string =>
    `${ts} 0.532139961 0.946026558 0.500000000 0.500000000 0.000000000 0.000000000 1 0 0 0.5 0 1 0 -0.25 0 0 1 2`;

  it('parses the URL line and 19-number frame lines, and formats them back', () => {
    const text = `https://www.youtube.com/watch?v=abc\n${line(52553000)}\n${line(52586366)}\n`;
    const t = parseCameraFile(text, 'x.txt');
    expect(t.url).toBe('https://www.youtube.com/watch?v=abc');
    expect(t.frames.map((f) => f.timestampUs)).toEqual([52553000, 52586366]);
    expect(t.frames[0]!.fy).toBe(0.946026558);
    expect(Array.from(t.frames[1]!.worldToCamera)).toEqual([1, 0, 0, 0.5, 0, 1, 0, -0.25, 0, 0, 1, 2]);
    const again = parseCameraFile(formatCameraFile(t), 'y.txt');
    expect(again).toEqual(t);
    expect(formatCameraFile(t).split('\n')[1]).toBe(
      '52553000 0.532139961 0.946026558 0.500000000 0.500000000 0.000000000 0.000000000 1.000000000 0.000000000 0.000000000 0.500000000 0.000000000 1.000000000 0.000000000 -0.250000000 0.000000000 0.000000000 1.000000000 2.000000000',
    );
  });

  it('names the line of a malformed frame', async () => {
    expect(() => parseCameraFile(`url\n${line(0)}\n1 2 3\n`, 'c.txt')).toThrow(
      /c\.txt:3: 3 fields on a frame line; each line after the URL/,
    );
    expect(() => parseCameraFile(`url\n${line(0).replace('0.532139961', 'abc')}\n`, 'c.txt')).toThrow(
      /c\.txt:2: field 2 \('abc'\) is not a number/,
    );
    expect(() => parseCameraFile('url\n', 'c.txt')).toThrow(/no frame lines/);
    expect(() => parseCameraFile(`\n${line(0)}\n`, 'c.txt')).toThrow(/c\.txt:1: the first line/);
    const csv = await put('pose/labels.csv', 'path,label\nv.mp4,cams/a.txt\n');
    await put('pose/v.mp4', 'x');
    await put('pose/cams/a.txt', 'url\n1 2\n');
    await expect(loadPoseDataset(csv)).rejects.toThrow(/a\.txt:2: 2 fields/);
  });

  it('computes OC8 relative poses E_b·E_a⁻¹', () => {
    // E_a: rotation 90° about z, translation (1, 2, 3); E_b: identity rotation, translation (0, 0, 1).
    const a = new Float64Array([0, -1, 0, 1, 1, 0, 0, 2, 0, 0, 1, 3]);
    const b = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]);
    const rel = relativePose(a, b);
    // X_b = R X_a + t for any world point: check on X_w = (0.3, −0.7, 1.1).
    const Xw = [0.3, -0.7, 1.1];
    const apply = (e: Float64Array | number[], x: number[], stride: number): number[] =>
      [0, 1, 2].map(
        (r) =>
          e[stride * r]! * x[0]! +
          e[stride * r + 1]! * x[1]! +
          e[stride * r + 2]! * x[2]! +
          (stride === 4 ? e[4 * r + 3]! : 0),
      );
    const Xa = apply(a, Xw, 4);
    const Xb = apply(b, Xw, 4);
    const pred = apply(Array.from(rel.subarray(0, 9)), Xa, 3).map((v, r) => v + rel[9 + r]!);
    pred.forEach((v, r) => expect(v).toBeCloseTo(Xb[r]!, 12));
  });
});

describe('Waymo-style boxes', () => {
  it('reads Waymo center/length/width boxes (snake or camel case) and bare frame arrays', () => {
    const waymo = JSON.stringify([
      { labels: [{ id: 'veh_1', type: 1, box: { center_x: 10, center_y: 20, length: 4, width: 6 } }] },
      {
        labels: [
          { id: 'veh_1', box: { centerX: 11, centerY: 20, length: 4, width: 6 } },
          { id: 7, box: [1, 2, 3, 4] },
        ],
      },
    ]);
    const clip = parseBoxesJson(waymo, 'w.json');
    expect(clip.frames[0]!.boxes[0]).toEqual({ id: 'veh_1', type: '1', box: [17, 8, 23, 12] });
    expect(clip.frames[1]!.boxes[1]).toEqual({ id: '7', box: [1, 2, 3, 4] });
    const tr = boxTracks(clip);
    expect(tr.ids).toEqual(['veh_1']);
    expect(Array.from(tr.valid)).toEqual([1, 1]);
    expect(Array.from(tr.boxes)).toEqual([17, 8, 23, 12, 17, 9, 23, 13]);
    const ours = {
      name: 'c',
      width: 64,
      height: 48,
      frames: [
        {
          frame: 0,
          timestampUs: 0,
          boxes: [{ id: '1', type: 'cube', box: [1, 2, 3, 4] as [number, number, number, number] }],
        },
      ],
    };
    expect(parseBoxesJson(formatBoxesJson(ours), 'o.json')).toEqual(ours);
  });

  it('names the frame and box at fault', () => {
    expect(() => parseBoxesJson('{"frames": [{"boxes": [{"box": [1,2,3,4]}]}]}', 'b.json')).toThrow(
      /b\.json: frames\[0\]\.boxes\[0\] has no id/,
    );
    expect(() => parseBoxesJson('{"frames": [{"boxes": [{"id": 1, "box": [1,2,3]}]}]}', 'b.json')).toThrow(
      /box is not 4 numbers/,
    );
    expect(() => parseBoxesJson('{"frames": [{}]}', 'b.json')).toThrow(/frames\[0\] has no "boxes" array/);
    expect(() => parseBoxesJson('{"frames": ', 'b.json')).toThrow(/not valid JSON/);
    expect(() => parseBoxesJson('{"name": "x"}', 'b.json')).toThrow(/no "frames" array/);
  });
});

describe('readGray16Png', () => {
  it('reports a file that is not a PNG', async () => {
    const p = await put('bad.png', 'not a png');
    await expect(readGray16Png(p)).rejects.toThrow(/bad\.png: not a readable PNG/);
  });
});
