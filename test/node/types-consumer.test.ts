import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The published types as a user's strict TypeScript project sees them: the package (its exports map and the built
// .d.ts files) is linked into a temporary project's node_modules and a consumer written as the README shows is
// compiled with tsc --strict. A deliberate misuse must fail, so the check itself is known to bite.
const root = resolve('.');
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const dir = mkdtempSync(join(tmpdir(), 'ivfkit-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'node_modules'));
symlinkSync(root, join(dir, 'node_modules', 'ivfkit'), 'dir');
// The package's own dependencies resolve from its folder; @types/node from the package's too.
symlinkSync(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

function compile(name: string, source: string, resolution: 'nodenext' | 'node10' = 'nodenext', extra: string[] = ['--skipLibCheck']): { status: number | null; out: string } {
  writeFileSync(join(dir, name), source);
  const mod = resolution === 'nodenext' ? ['--module', 'nodenext', '--moduleResolution', 'nodenext'] : ['--module', 'es2022', '--moduleResolution', 'node10'];
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--exactOptionalPropertyTypes', '--noUncheckedIndexedAccess',
    ...mod, '--target', 'es2022', ...extra, '--types', 'node', name],
  { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const CONSUMER = `
import {
  trainLocal, fromFloat32Array, createSampleTasks, executeSampleTask, trainFromSamples, serializeSampleTask, deserializeSampleTask,
  serializeSampleResult, deserializeSampleResult, modelToArrowIPC, modelFromArrowIPC, evaluateRecall, encodePq, trainPq, kmeans,
  loadKernels, localExecutor, TRAIN_DEFAULTS, SQ_DEFAULTS,
  type TrainParams, type TrainedModels, type PqTrainResult, type QFilter, type KernelBuildRequest, type LocalExecutor,
  type SamplePlanHeader, type StatsScratch, type NpyHeader, type Progress, type IvfModel, type PqModel, type SqModel,
} from 'ivfkit';
import { openVectorFile, writeModelFiles } from 'ivfkit/node';

const dim = 32;
const vectors = new Float32Array(4096 * dim);
const source = fromFloat32Array(vectors, dim);
const onProgress = (p: Progress): void => { void p.stage; };
// The params of trainLocal, as they are, plan the distributed run too.
const params: TrainParams = { metric: 'cosine', numPartitions: 16, pq: { numSubVectors: 8, numBits: 8 }, seed: 7, onProgress };
const a: TrainedModels = await trainLocal(source, params);
const tasks = createSampleTasks(await source.fragments(), 3, { metric: 'cosine', numPartitions: 16, pq: { numSubVectors: 8, numBits: 8 }, seed: 7, threads: 2 });
const results = await Promise.all(tasks.map((t) => executeSampleTask(deserializeSampleTask(serializeSampleTask(t)), source)));
const wire = results.map((r) => serializeSampleResult(r));
const b = await trainFromSamples(wire.map((w) => deserializeSampleResult({ json: w.json, arrow: w.arrow.buffer as ArrayBuffer })), params);
const header: SamplePlanHeader = tasks[0]!;
const bytes = modelToArrowIPC(b);
const back = modelFromArrowIPC(bytes.slice().buffer);
const quantRows: number | undefined = back.sample.quant?.rows;
const report = await evaluateRecall(a, vectors, vectors.subarray(0, 10 * dim), { k: 10, nprobes: 4 });
const codes: Uint8Array = await encodePq(a, vectors);
const pq: PqTrainResult = await trainPq(vectors, dim, { numSubVectors: 8, numBits: 4 });
const ivf: IvfModel = a.ivf, book: PqModel | undefined = a.pq, sq: SqModel | undefined = a.sq;
const q: QFilter = 'auto', build: KernelBuildRequest = 'auto';
const kernels = await loadKernels({ build, qFilter: q });
const ex: LocalExecutor = localExecutor(vectors, dim, kernels);
const scratch: StatsScratch = {};
const km = await kmeans(vectors, dim, 8, { maxIters: 3, seed: 1, tolerance: 0, bounds: true, kernels });
const file = await openVectorFile('x.fvecs');
await writeModelFiles(a, { out: 'model.arrow', npyDir: 'lance' });
const h: NpyHeader | undefined = undefined;
console.log(report.recall, codes.length, pq.iterations, ivf, book, sq, ex.n, scratch, km.loss, file.dim, h, header.planId, quantRows,
  TRAIN_DEFAULTS.sampleRate, SQ_DEFAULTS.numBits);
`;

describe('the published types, as a strict TypeScript user compiles against them', () => {
  it('a README-style consumer (trainLocal, the distributed protocol with TrainParams, model I/O, kernels, files) compiles', () => {
    const r = compile('consumer.ts', CONSUMER);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it("the subpaths' types resolve under moduleResolution node10 too (typesVersions; it reads no exports map)", () => {
    const r = compile('node10.ts', `import { trainLocal } from 'ivfkit';
import { openVectorFile } from 'ivfkit/node';
import { createBullmqCoordinator } from 'ivfkit/bullmq';
import { handleRequest } from 'ivfkit/worker';
const f: typeof openVectorFile = openVectorFile;
console.log(typeof trainLocal, f, typeof createBullmqCoordinator, typeof handleRequest);
`, 'node10');
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it("a Node-only project (no DOM lib) that checks library types too: ivfkit's .d.ts files compile (WebAssembly types declared)", () => {
    const r = compile('nodeonly.ts', `import { trainLocal, getWasmModule } from 'ivfkit';
import { openVectorFile } from 'ivfkit/node';
import { handleRequest } from 'ivfkit/worker';
const m = await getWasmModule('simd');
console.log(typeof trainLocal, typeof openVectorFile, typeof handleRequest, m);
`, 'nodenext', ['--lib', 'es2022']);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('misuse fails to compile (the check bites): a wrong option type, a read-only default', () => {
    const r = compile('misuse.ts', `import { trainLocal, fromFloat32Array, SQ_DEFAULTS } from 'ivfkit';
await trainLocal(fromFloat32Array(new Float32Array(64), 8), { numPartitions: '4' });
SQ_DEFAULTS.metric = 'dot';
`);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/misuse\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(r.out).toMatch(/misuse\.ts\(3,13\): error TS2540: Cannot assign to 'metric' because it is a read-only property/);
  });
});

describe('the published package', () => {
  it('its exports map serves every entry at run time (a consumer project importing ivfkit by name, training on two threads)', () => {
    writeFileSync(join(dir, 'run.mjs'), `import { trainLocal, fromFloat32Array } from 'ivfkit';
import { openVectorFile } from 'ivfkit/node';
import { handleRequest } from 'ivfkit/worker';
import * as bq from 'ivfkit/bullmq';
const x = Float32Array.from({ length: 3000 * 8 }, (_, i) => Math.sin(i * 0.37));
const a = await trainLocal(fromFloat32Array(x, 8), { numPartitions: 8, maxIters: 4, seed: 1, threads: 1 });
const b = await trainLocal(fromFloat32Array(x, 8), { numPartitions: 8, maxIters: 4, seed: 1, threads: 2 });
console.log('OK', a.ivf.centroids.every((v, i) => Object.is(v, b.ivf.centroids[i])), typeof openVectorFile, typeof handleRequest, typeof bq.createBullmqCoordinator);
`);
    const r = spawnSync(process.execPath, ['run.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('OK true function function function');
  });

  it('npm pack ships the built entries, the worker, the embedded wasm, types, sources for the source maps and the licence, and no tests', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node/index.js', 'dist/workers/worker.js', 'dist/adapters/bullmq.js', 'dist/cli/main.js',
      'dist/kernels/generated/simd.js', 'dist/kernels/generated/dot8.js', 'src/index.ts', 'LICENSE', 'README.md', 'package.json']) {
      expect(files.has(f), f).toBe(true);
    }
    expect([...files].filter((f) => /^(test|bench|scripts|examples|assembly)\/|^src\/kernels\/generated\//.test(f))).toEqual([]);
  });
});
