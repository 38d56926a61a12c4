// npm test: runs vitest (extra arguments pass through), then prints one plain summary line
// "N passed, N failed, N skipped (reason; …)" that CI reads, and exits with vitest's status.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const out = '.test-results.json';
rmSync(out, { force: true });
const r = spawnSync(
  process.execPath,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${out}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', env: { XDG_RUNTIME_DIR: '/tmp', ...process.env } },
);
if (existsSync(out)) {
  const j = JSON.parse(readFileSync(out, 'utf8'));
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  // Every skip with its reason: test/helpers/skip.ts puts a runtime skip's reason in meta.skip;
  // a static it.skip carries it in its title.
  const reasons = new Map();
  for (const f of j.testResults ?? []) {
    for (const a of f.assertionResults ?? []) {
      if (a.status === 'skipped' || a.status === 'pending' || a.status === 'todo') {
        const why = a.meta?.skip ?? a.fullName;
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
    }
  }
  const list = [...reasons].map(([why, n]) => (n > 1 ? `${n}× ${why}` : why)).join('; ');
  console.log(`${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped${list ? ` (${list})` : ''}`);
}
process.exit(r.status ?? 1);
