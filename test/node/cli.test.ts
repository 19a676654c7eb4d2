import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Field, FixedSizeList, Float32, Int32, RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, tableToIPC } from 'apache-arrow';
import { toVecs } from '../../src/sources/fvecs.js';
import { toNpy, fromNpy } from '../../src/model/npy.js';
import { readFileSync } from 'node:fs';

const CLI = resolve('dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'ivfkit-cli-'));
const d = 16;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, IVFKIT_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function blobs(n: number, seed: number, dim = d): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = i % 8;
    for (let j = 0; j < dim; j++) out[i * dim + j] = (j % 8 === c ? 6 : 0) + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  }
  return out;
}

function arrowFile(flat: Float32Array, batchRows: number): Uint8Array {
  const listType = new FixedSizeList(d, new Field('item', new Float32(), false));
  const fields = [new Field('id', new Int32(), false), new Field('emb', listType, false)];
  const schema = new Schema(fields);
  const n = flat.length / d;
  const batches = [];
  for (let start = 0; start < n; start += batchRows) {
    const rows = Math.min(batchRows, n - start);
    const vec = makeData({ type: listType, length: rows, nullCount: 0, child: makeData({ type: new Float32(), length: rows * d, data: flat.slice(start * d, (start + rows) * d) }) });
    const ids = makeData({ type: new Int32(), length: rows, data: Int32Array.from({ length: rows }, (_, i) => start + i) });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [ids, vec] })));
  }
  return tableToIPC(new Table(batches), 'file');
}

/** One line on stderr, no stack trace, exit code 1. */
function expectOneLineError(r: ReturnType<typeof run>, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^ivfkit: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

const noTemp = () => expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

describe('ivfkit CLI (spawned as a user runs it)', () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before this test`);
    const base = blobs(3000, 1);
    writeFileSync(join(dir, 'base.arrow'), arrowFile(base, 700));
    writeFileSync(join(dir, 'base.fvecs'), toVecs(base, d));
    const pw = await import('parquet-wasm');
    const ipc = tableToIPC(tableFromIPC(arrowFile(base.slice(0, 1000 * d), 1000)), 'stream');
    writeFileSync(join(dir, 'part.parquet'), pw.writeParquet(pw.Table.fromIPCStream(ipc), new pw.WriterPropertiesBuilder().setMaxRowGroupSize(300).build()));
    writeFileSync(join(dir, 'queries.npy'), toNpy(blobs(100, 2), [100, d]));
    writeFileSync(join(dir, 'q17.fvecs'), toVecs(blobs(10, 3, 17), 17));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help prints usage and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ivfkit train <input\.\.\.> --out model\.arrow/);
  });

  it('--version prints the package version and exits 0', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const a of ['--version', '-v']) {
      const r = run(a);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(`ivfkit ${version}`);
    }
  });

  it('train → info → eval (PQ, Arrow input, .npy export), silent stderr when not a TTY', () => {
    const t = run('train', 'base.arrow', '--column', 'emb', '--metric', 'l2', '--partitions', '8', '--pq', '4', '--max-iters', '10',
      '--seed', '3', '--out', 'pq.arrow', '--npy', 'lance', '--json');
    expect(t.stderr).toBe('');
    expect(t.code).toBe(0);
    const tr = JSON.parse(t.stdout);
    expect(tr).toMatchObject({ rows: 3000, dim: d, metric: 'l2', numPartitions: 8, pq: { numSubVectors: 4, numBits: 8 } });
    expect(tr.sample.rows).toBe(Math.min(3000, 8 * 256)); // the IVF sample: numPartitions × sampleRate
    expect(tr.warnings).toEqual([]);
    expect(existsSync(join(dir, 'pq.arrow'))).toBe(true);
    const cent = fromNpy(new Uint8Array(readFileSync(join(dir, 'lance', 'ivf_centroids.npy'))));
    expect(cent.shape).toEqual([8, d]);
    expect(fromNpy(new Uint8Array(readFileSync(join(dir, 'lance', 'pq_codebook.npy')))).shape).toEqual([4, 256, 4]);

    const i = run('info', 'pq.arrow', '--json');
    expect(i.code).toBe(0);
    expect(JSON.parse(i.stdout)).toMatchObject({ metric: 'l2', dim: d, numPartitions: 8, pq: { numSubVectors: 4, numBits: 8, subDim: 4 }, ivfLoss: tr.ivfLoss });
    const human = run('info', 'pq.arrow');
    expect(human.stdout).toMatch(/IVF8_PQ4x8 \(l2, dim 16\)/);

    const e = run('eval', 'pq.arrow', 'base.fvecs', 'queries.npy', '--k', '10', '--nprobes', '1,8', '--json');
    expect(e.code).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev.queries).toBe(100);
    expect(ev.base).toBe(3000);
    const [r1, r8] = ev.results;
    expect(r1.nprobes).toBe(1);
    expect(r8.recall).toBeGreaterThanOrEqual(r1.recall);
    expect(r8.recall).toBeGreaterThan(0.3);
    expect(r8.recall).toBeLessThanOrEqual(1);
    // More probes than partitions probe every partition, and the line says so.
    const all = run('eval', 'pq.arrow', 'base.fvecs', 'queries.npy', '--nprobes', '8,100');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/nprobes {4}8 {2}recall/);
    expect(all.stdout).toMatch(/nprobes {2}100 \(all 8 partitions\) {2}recall/);
    expect(JSON.parse(run('eval', 'pq.arrow', 'base.fvecs', 'queries.npy', '--nprobes', '100', '--json').stdout).results[0]).toMatchObject({ nprobes: 100, probed: 8 });
    noTemp();
  });

  it('a reader that closes the pipe early (`| head -1`) ends the CLI quietly, exit 0', async () => {
    const child = spawn(process.execPath, [CLI, 'info', 'pq.arrow'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();                                   // closed long before the CLI has started and writes
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += String(b); });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('no command: usage and the missing command on stderr, exit 1', () => {
    const r = run();
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ivfkit — train IVF/);
    expect(r.stderr.trimEnd().split('\n').pop()).toBe('ivfkit: command: expected train | eval | info, got none');
  });

  it('train warns (stderr, and in --json) when most partitions end empty: fewer distinct vectors than partitions', () => {
    const few = blobs(6, 9), x = new Float32Array(1200 * d);
    for (let i = 0; i < 1200; i++) x.set(few.subarray((i % 6) * d, (i % 6 + 1) * d), i * d);
    writeFileSync(join(dir, 'dup.fvecs'), toVecs(x, d));
    const t = run('train', 'dup.fvecs', '--partitions', '16', '--seed', '1', '--out', 'dup.arrow', '--json');
    expect(t.code).toBe(0);
    const tr = JSON.parse(t.stdout);
    expect(tr.warnings).toHaveLength(1);
    expect(tr.warnings[0]).toMatch(/^ivfkit: IVF k-means: 1[0-5] of 16 partitions had no rows in its last iteration .*fewer distinct vectors than numPartitions, or k-means stopped/);
    expect(t.stderr.trim()).toBe(tr.warnings[0]);
    expect(existsSync(join(dir, 'dup.arrow'))).toBe(true);
  });

  it('train --sq with several inputs (Arrow, fvecs, Parquet) and cosine', () => {
    const t = run('train', 'base.arrow', 'base.fvecs', 'part.parquet', '--column', 'emb', '--metric', 'cosine', '--partitions', '4', '--sq', '--max-iters', '5', '--out', 'sq.arrow', '--json');
    expect(t.code).toBe(0);
    const tr = JSON.parse(t.stdout);
    expect(tr.rows).toBe(7000);
    expect(tr.sq.lower).toBeLessThan(tr.sq.upper);
    expect(tr.sq.upper).toBeLessThanOrEqual(1);
    const e = run('eval', 'sq.arrow', 'base.fvecs', 'queries.npy', '--nprobes', '4', '--json');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).results[0].index).toBe('ivf_sq');
  });

  it('train --tolerance reaches the IVF k-means: default = 1e-4, 0 and 0.5 give other models; bad values are one-line errors', () => {
    expect(run('--help').stdout).toMatch(/--tolerance T .*\n.*default 1e-4/);
    const loss = (...extra: string[]) => {
      const r = run('train', 'base.fvecs', '--partitions', '8', '--max-iters', '25', '--seed', '5', '--threads', '1', '--out', 'tol.arrow', '--json', ...extra);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout).ivfLoss as number;
    };
    const dflt = loss(), lance = loss('--tolerance', '1e-4'), all = loss('--tolerance', '0'), loose = loss('--tolerance', '0.5');
    expect(lance).toBe(dflt);
    expect(all).not.toBe(dflt);
    expect(loose).not.toBe(dflt);
    expect(loose).toBeGreaterThan(all);
    for (const bad of ['-1', 'abc', 'Infinity', 'NaN', '1e400', '']) {
      expectOneLineError(run('train', 'base.fvecs', '--partitions', '4', `--tolerance=${bad}`, '--out', 'bad.arrow'),
        new RegExp(`--tolerance: expected a finite number ≥ 0, got "${bad}"`));
    }
    expect(existsSync(join(dir, 'bad.arrow'))).toBe(false);
  });

  it('train --refine-iters (over 256 partitions): 0 keeps the hierarchical splits, the default (5) refines them; bad values are one-line errors', () => {
    expect(run('--help').stdout).toMatch(/--refine-iters N/);
    const loss = (...extra: string[]) => {
      const r = run('train', 'base.fvecs', '--partitions', '300', '--max-iters', '10', '--seed', '5', '--threads', '1', '--out', 'ref.arrow', '--json', ...extra);
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout).ivfLoss as number;
    };
    const dflt = loss(), five = loss('--refine-iters', '5'), none = loss('--refine-iters', '0');
    expect(five).toBe(dflt);
    expect(none).toBeGreaterThan(dflt);
    expectOneLineError(run('train', 'base.fvecs', '--partitions', '300', '--refine-iters=-1', '--out', 'bad.arrow'),
      /--refine-iters: expected an integer ≥ 0, got "-1"/);
  });

  it('bad input: one clear line on stderr, exit 1, no partial output file', () => {
    const cases: [string[], RegExp][] = [
      [['train', 'missing.arrow', '--partitions', '4', '--out', 'bad.arrow'], /missing\.arrow: expected an existing file/],
      [['train', 'base.arrow', '--column', 'nope', '--partitions', '4', '--out', 'bad.arrow'], /expected one of \[id: Int32, emb: FixedSizeList\[\d+\]<Float32>\], got "nope"/],
      [['train', 'base.arrow', '--metric', 'manhattan', '--out', 'bad.arrow'], /--metric: expected l2 \| cosine \| dot, got "manhattan"/],
      [['train', 'base.arrow', '--pq', '5', '--partitions', '4', '--out', 'bad.arrow'], /expected a divisor of dim 16, got 5/],
      [['train', 'base.fvecs', 'q17.fvecs', '--partitions', '4', '--out', 'bad.arrow'], /expected 16 .*got 17/],
      [['train', 'base.arrow', '--partitions', 'many', '--out', 'bad.arrow'], /--partitions: expected an integer ≥ 1, got "many"/],
      [['train', 'base.arrow', '--partitions', '4'], /expected --out FILE/],
      [['train', 'base.arrow', '--bogus'], /Unknown option '--bogus'/],
      [['eval', 'pq.arrow', 'base.fvecs', 'q17.fvecs'], /queries .*q17\.fvecs: expected dim 16 \(the model's\), got 17/],
      [['info', 'base.fvecs'], /expected an Arrow IPC file/],
      [['frobnicate'], /command: expected train \| eval \| info, got "frobnicate"/],
      // found by a first-user walk through the README (2026-12-02)
      [['train', 'base.arrow', '--partitions', '4', '--out', 'base.arrow'], /--out: expected a path other than the input base\.arrow, got the same file/],
      [['train', 'base.fvecs', '--partitions', '-4', '--out', 'bad.arrow'], /--partitions: expected an integer ≥ 1, got "-4"/],
      [['train', 'base.fvecs', '--seed', '-1', '--out', 'bad.arrow'], /--seed: expected an integer ≥ 0, got "-1"/],
      [['train', 'base.fvecs', '--tolerance', '-0.5', '--out', 'bad.arrow'], /--tolerance: expected a finite number ≥ 0, got "-0\.5"/],
      [['train', 'base.fvecs', '--partitions', '4', '--out', 'lance'], /--out lance: expected a model file name, got a folder/],
      [['train', 'base.fvecs', '--partitions', '4', '--out', 'bad.arrow', '--npy', 'base.fvecs'], /--npy base\.fvecs: expected a folder, got a file/],
      [['train', 'base.fvecs', '--column', 'emb', '--partitions', '4', '--out', 'bad.arrow'], /column "emb": expected an Arrow or Parquet file among the inputs/],
      [['train', 'base.fvecs', '--partitions', '4', '--nprobes', '4', '--out', 'bad.arrow'], /train: expected its own options \(see ivfkit --help\), got --nprobes \(an option of eval\)/],
      [['eval', 'pq.arrow', 'base.fvecs', 'queries.npy', '--pq', '3'], /eval: expected its own options .*got --pq \(an option of train\)/],
      [['info', 'pq.arrow', '--column', 'emb'], /info: expected its own options .*got --column \(an option of train and eval\)/],
      [['eval', 'pq.arrow', 'base.fvecs', 'queries.npy', '--column', 'emb'], /--column emb: expected an Arrow or Parquet base or queries file/],
      [['train', 'zero.npy', '--partitions', '4', '--out', 'bad.arrow'], /zero\.npy: expected at least one row, got shape \(0, 16\)/],
    ];
    writeFileSync(join(dir, 'zero.npy'), toNpy(new Float32Array(0), [0, d]));
    const before = readFileSync(join(dir, 'base.arrow'));
    for (const [args, pattern] of cases) {
      const r = run(...args);
      expectOneLineError(r, pattern);
    }
    expect(existsSync(join(dir, 'bad.arrow'))).toBe(false);
    expect(readFileSync(join(dir, 'base.arrow')).equals(before)).toBe(true);
    noTemp();
  });
});
