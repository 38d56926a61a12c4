// Prints vitest's JSON report as one plain line: "N passed, N failed, N skipped".
import { readFileSync } from 'node:fs';
const path = process.argv[2] ?? 'test-results.json';
const r = JSON.parse(readFileSync(path, 'utf8'));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
process.exit(r.numFailedTests > 0 || !r.success ? 1 : 0);
