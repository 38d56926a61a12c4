// Writes the synthetic sample collection (src/io/sample.ts) to a folder, default ./sample.
// Run: npx esbuild tools/make-sample.ts --bundle --platform=node --format=esm --packages=external \
//        --outfile=scratch/make-sample.mjs && node scratch/make-sample.mjs [dir] [--bad]
import { resolve } from 'node:path';
import { makeSample } from '../src/io/sample.js';

const args = process.argv.slice(2);
const withBad = args.includes('--bad');
const dir = resolve(args.find((a) => !a.startsWith('--')) ?? 'sample');
const t0 = performance.now();
const m = await makeSample(dir, { withBad });
for (const f of m.files) {
  const what = f.bad !== undefined ? `bad: ${f.bad}` : `${f.codec} ${f.width}x${f.height}, ${f.frames} frame(s)`;
  console.log(`${f.name.padEnd(40)} ${what}`);
}
for (const s of m.skipped) {
  console.log(`skipped ${s}`);
}
console.log(
  `${m.files.length} files in ${dir} (${Math.round(performance.now() - t0)} ms; ffmpeg ${m.ffmpeg.version}, ${m.ffmpeg.source})`,
);
