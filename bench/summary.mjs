// Merges result files of several `npm run bench` invocations (e.g. one per workload) and prints the
// targets and the README summary table, as run.mjs prints them at the end of one run.
//   node bench/summary.mjs /tmp/ivfkit-bench/results-*.json
import { readFileSync } from 'node:fs';
import { summaryTable, targets } from './run.mjs';

const files = process.argv.slice(2);
if (!files.length) throw new Error('usage: node bench/summary.mjs RESULTS.json [MORE.json ...]');
const reports = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
const merged = { ...reports[0], workloads: {} };
for (const r of reports) Object.assign(merged.workloads, r.workloads);
merged.command = [...new Set(reports.map((r) => r.command))].join('` + `');
merged.loadavgStart = reports[0].loadavgStart;
const ends = reports.map((r) => r.loadavgEnd).filter(Boolean);
console.log(`## Targets\n\n${targets(merged).map((t) => `- ${t}`).join('\n')}\n`);
console.log(`## Summary\n\n${summaryTable(merged)}`);
console.log(`\nload average: ${reports.map((r) => `${r.date.slice(11, 16)} start ${r.loadavgStart.map((v) => v.toFixed(1)).join('/')}`).join('; ')}; last end ${ends.at(-1)?.map((v) => v.toFixed(1)).join('/')}`);
