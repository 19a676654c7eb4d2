#!/usr/bin/env node
import { readFile, realpath, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Metric, Progress, TrainedModels } from '../types.js';
import { IvfkitError } from '../util/errors.js';
import { trainLocal, type TrainParams } from '../train/local.js';
import { modelFromArrowIPC } from '../model/io.js';
import { createRecallEvaluator, exactTopK } from '../model/evaluate.js';
import { loadKernels } from '../kernels/index.js';
import { formatOf, hasColumns, openVectorFile, openVectorFiles, readAllRows, writeModelFiles } from '../node/files.js';
import type { NpyDtype } from '../model/npy.js';
import { ProgressBar } from './progress.js';

const HELP = `ivfkit — train IVF / PQ / SQ models for IVF_PQ and IVF_SQ vector indexes

Usage:
  ivfkit train <input...> --out model.arrow [options]
  ivfkit eval <model> <base> <queries> [--k 10] [--nprobes 1,4,16]
  ivfkit info <model>

Inputs (by extension): .arrow .arrows .ipc .feather (Arrow IPC), .parquet, .fvecs, .bvecs, .ivecs, .npy

train options:
  --column NAME        vector column of Arrow/Parquet inputs (default: the only list-of-floats column)
  --metric M           l2 | cosine | dot (default l2)
  --partitions K       IVF partitions (default 256)
  --pq M               train a PQ codebook with M sub-vectors (M must divide the dimension)
  --bits B             PQ bits per code: 8 or 4 (default 8)
  --sq                 train 8-bit scalar-quantizer bounds
  --threads N          k-means threads (default: the core count)
  --seed S             random seed (default ivfkit's fixed seed)
  --sample-rate R      sample rows per centroid (default 256)
  --max-iters N        k-means iterations (default 50)
  --refine-iters N     over 256 partitions: Lloyd passes over the whole sample after the hierarchical
                       splits (default 5; 0 keeps the splits' centroids, as Lance)
  --tolerance T        stop a k-means (IVF, each PQ sub-space) once its loss changes by less than
                       T × loss between iterations; 0 always runs --max-iters (default 1e-4, Lance's)
  --out FILE           model file (Arrow IPC), written atomically (missing parent folders are created)
  --npy DIR            also write .npy files for Lance's Python API (centroids, codebook, SQ bounds)
  --npy-dtype T        float32 | float16 | float64: the vector column's type (default float32)

eval options:
  --k K                neighbours (default 10)
  --nprobes LIST       partitions probed, comma-separated (default 16)
  --column NAME        vector column of Arrow/Parquet base/queries files

Common: --json (machine-readable result on stdout), --quiet (no progress), --help, --version
Exit codes: 0 ok, 1 bad input or failure (one line on stderr). Ctrl-C stops at once; output files
are written only at the end (temporary name, then renamed), so no partial file is left.
`;

const OPTIONS = {
  column: { type: 'string' }, metric: { type: 'string' }, partitions: { type: 'string' }, pq: { type: 'string' },
  bits: { type: 'string' }, sq: { type: 'boolean' }, threads: { type: 'string' }, seed: { type: 'string' },
  'sample-rate': { type: 'string' }, 'max-iters': { type: 'string' }, 'refine-iters': { type: 'string' }, tolerance: { type: 'string' }, out: { type: 'string', short: 'o' },
  npy: { type: 'string' }, 'npy-dtype': { type: 'string' }, k: { type: 'string' }, nprobes: { type: 'string' },
  json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The options each command takes (besides --json, --quiet and --help). */
const COMMAND_OPTIONS: Record<'train' | 'eval' | 'info', readonly (keyof Values)[]> = {
  train: ['column', 'metric', 'partitions', 'pq', 'bits', 'sq', 'threads', 'seed', 'sample-rate', 'max-iters', 'refine-iters', 'tolerance', 'out', 'npy', 'npy-dtype'],
  eval: ['k', 'nprobes', 'column'],
  info: [],
};
const COMMON_OPTIONS: readonly (keyof Values)[] = ['json', 'quiet', 'help', 'version'];

/**
 * `--seed -1` as `--seed=-1`: node's parser takes a value that starts with '-' for an option (and calls it ambiguous);
 * a negative number after a value option is that option's value, so the option's own check reports it.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!, name = /^--([a-z-]+)$/.exec(a)?.[1];
    const next = argv[i + 1];
    if (name && (OPTIONS as Record<string, { type: string }>)[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d|inf|nan)/i.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function checkCommandOptions(command: 'train' | 'eval' | 'info', values: Values): void {
  for (const name of Object.keys(values) as (keyof Values)[]) {
    if (COMMAND_OPTIONS[command].includes(name) || COMMON_OPTIONS.includes(name)) continue;
    const owner = (Object.keys(COMMAND_OPTIONS) as (keyof typeof COMMAND_OPTIONS)[]).filter((c) => COMMAND_OPTIONS[c].includes(name));
    throw new IvfkitError('invalid-argument', `${command}: expected its own options (see ivfkit --help), got --${name} (an option of ${owner.join(' and ')})`);
  }
}

function int(values: Values, name: keyof Values, dflt: number | undefined, min = 1): number | undefined {
  const raw = values[name];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min) {
    throw new IvfkitError('invalid-argument', `--${name}: expected an integer ≥ ${min}, got "${String(raw)}"`);
  }
  return v;
}

/** A finite decimal number ≥ 0 (e.g. 0, 1e-4, 0.001), or undefined when the option is absent. */
function nonNegative(values: Values, name: keyof Values): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || !/^\s*[+]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(raw) || !Number.isFinite(v) || v < 0) {
    throw new IvfkitError('invalid-argument', `--${name}: expected a finite number ≥ 0, got "${String(raw)}"`);
  }
  return v;
}

function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) throw new IvfkitError('invalid-argument', `--${name}: expected ${allowed.join(' | ')}, got "${value}"`);
  return value as T;
}

const out = (s: string) => process.stdout.write(s + '\n');
const ms = (t0: number) => Math.round(performance.now() - t0);

async function train(inputs: string[], v: Values): Promise<void> {
  if (inputs.length === 0) throw new IvfkitError('invalid-argument', 'train: expected at least one input file, got none');
  if (!v.out) throw new IvfkitError('invalid-argument', 'train: expected --out FILE for the model, got none');
  const metric = oneOf<Metric>(v.metric, 'metric', ['l2', 'cosine', 'dot'], 'l2');
  const numBits = oneOf(v.bits, 'bits', ['8', '4'], '8');
  const npyDtype = oneOf<NpyDtype>(v['npy-dtype'], 'npy-dtype', ['float32', 'float16', 'float64'], 'float32');
  const m = int(v, 'pq', undefined);
  if (m !== undefined && v.sq) throw new IvfkitError('invalid-argument', 'train: expected either --pq or --sq, got both');
  if (v.bits !== undefined && m === undefined) throw new IvfkitError('invalid-argument', 'train: expected --bits only with --pq, got --bits without --pq');
  const seed = int(v, 'seed', undefined, 0);
  const sampleRate = int(v, 'sample-rate', undefined);
  const maxIters = int(v, 'max-iters', undefined);
  const refineIters = int(v, 'refine-iters', undefined, 0);
  const tolerance = nonNegative(v, 'tolerance');
  const threads = int(v, 'threads', undefined);
  await checkOutputs(inputs, v.out, v.npy);
  const bar = new ProgressBar(process.stderr, !v.quiet);
  const warnings: string[] = [];
  const t0 = performance.now();
  const source = await openVectorFiles(inputs, v.column === undefined ? {} : { column: v.column });
  try {
    const params: TrainParams = {
      metric,
      numPartitions: int(v, 'partitions', 256)!,
      ...(seed !== undefined ? { seed } : {}),
      ...(sampleRate !== undefined ? { sampleRate } : {}),
      ...(maxIters !== undefined ? { maxIters } : {}),
      ...(refineIters !== undefined ? { refineIters } : {}),
      ...(tolerance !== undefined ? { tolerance } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(m !== undefined ? { pq: { numSubVectors: m, numBits: Number(numBits) as 8 | 4 } } : {}),
      ...(v.sq ? { sq: { numBits: 8 } } : {}),
      onProgress: (p: Progress) => bar.update(p),
      logger: { warn: (message: string) => { warnings.push(message); bar.note(message); } },
    };
    const tOpen = ms(t0);
    const t1 = performance.now();
    const models = await trainLocal(source, params);
    bar.done();
    const tTrain = ms(t1);
    const written = await writeModelFiles(models, { out: v.out, ...(v.npy ? { npyDir: v.npy, dtype: npyDtype } : {}) });
    const result = {
      command: 'train', inputs, rows: source.numRows, dim: models.dim, metric: models.metric,
      numPartitions: models.ivf.numPartitions, ivfLoss: models.ivf.loss, sample: models.sample,
      pq: models.pq ? { numSubVectors: models.pq.numSubVectors, numBits: models.pq.numBits } : null,
      sq: models.sq ? { lower: models.sq.lower, upper: models.sq.upper } : null,
      timings: { openMs: tOpen, trainMs: tTrain, totalMs: ms(t0) }, files: written, warnings,
    };
    if (v.json) out(JSON.stringify(result));
    else {
      const q = models.sample.quant;
      out(`trained ${describe(models)} on ${models.sample.rows} sample rows (${models.sample.dropped} dropped) of ${source.numRows} rows` +
        (q && (q.rows !== models.sample.rows || q.dropped !== models.sample.dropped) ? `; ${models.pq ? 'PQ' : 'SQ'} on ${q.rows} rows (${q.dropped} dropped)` : ''));
      out(`IVF loss ${models.ivf.loss.toPrecision(6)}${models.sq ? `, SQ bounds [${models.sq.lower}, ${models.sq.upper}]` : ''}`);
      out(`time: open ${tOpen} ms, train ${tTrain} ms, total ${ms(t0)} ms`);
      for (const f of written) out(`wrote ${f}`);
    }
  } finally {
    bar.done();
    await source.close();
  }
}

/** Before any training: the model file is not an input and not a folder; the .npy folder is not a file. */
async function checkOutputs(inputs: string[], outPath: string, npyDir: string | undefined): Promise<void> {
  const real = async (p: string): Promise<string> => { try { return await realpath(p); } catch { return resolve(p); } };
  const target = await real(outPath);
  for (const input of inputs) {
    if ((await real(input)) === target) throw new IvfkitError('invalid-argument', `--out: expected a path other than the input ${input}, got the same file`);
  }
  const kind = async (p: string): Promise<'file' | 'folder' | undefined> => {
    try { return (await stat(p)).isDirectory() ? 'folder' : 'file'; } catch { return undefined; }
  };
  if ((await kind(outPath)) === 'folder') throw new IvfkitError('invalid-argument', `--out ${outPath}: expected a model file name, got a folder`);
  if (npyDir !== undefined && (await kind(npyDir)) === 'file') throw new IvfkitError('invalid-argument', `--npy ${npyDir}: expected a folder, got a file`);
}

function describe(m: TrainedModels): string {
  const q = m.pq ? `_PQ${m.pq.numSubVectors}x${m.pq.numBits}` : m.sq ? '_SQ8' : '_FLAT';
  return `IVF${m.ivf.numPartitions}${q} (${m.metric}, dim ${m.dim})`;
}

async function loadModel(path: string): Promise<{ models: TrainedModels; bytes: number }> {
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(await readFile(path)); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new IvfkitError(code === 'ENOENT' ? 'file-not-found' : 'io-error', `${path}: expected a readable model file, got ${code === 'ENOENT' ? 'no such file' : code ?? String(e)}`);
  }
  try { return { models: modelFromArrowIPC(bytes), bytes: bytes.length }; } catch (e) {
    if (e instanceof IvfkitError) throw new IvfkitError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

const columnar = (path: string): boolean => hasColumns(formatOf(path));

async function readVectors(path: string, column: string | undefined, dim: number, what: string): Promise<Float32Array> {
  const s = await openVectorFile(path, column === undefined || !columnar(path) ? {} : { column });
  try {
    if (s.dim !== dim) throw new IvfkitError('dimension-mismatch', `${what} ${path}: expected dim ${dim} (the model's), got ${s.dim}`);
    return (await readAllRows(s)).data;
  } finally { await s.close(); }
}

async function evaluate(args: string[], v: Values): Promise<void> {
  if (args.length !== 3) throw new IvfkitError('invalid-argument', `eval: expected <model> <base> <queries>, got ${args.length} argument(s)`);
  const [modelPath, basePath, queryPath] = args as [string, string, string];
  if (v.column !== undefined && !columnar(basePath) && !columnar(queryPath)) {
    throw new IvfkitError('invalid-argument', `--column ${v.column}: expected an Arrow or Parquet base or queries file (they have columns), got ${basePath} and ${queryPath}`);
  }
  const k = int(v, 'k', 10)!;
  const nprobesList = (v.nprobes ?? '16').split(',').map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s.trim()) || n < 1) throw new IvfkitError('invalid-argument', `--nprobes: expected positive integers separated by commas, got "${v.nprobes}"`);
    return n;
  });
  const t0 = performance.now();
  const { models } = await loadModel(modelPath);
  const base = await readVectors(basePath, v.column, models.dim, 'base');
  const queries = await readVectors(queryPath, v.column, models.dim, 'queries');
  const tLoad = ms(t0);
  const kernels = await loadKernels();
  const t1 = performance.now();
  const b = models.metric === 'cosine' ? kernels.normalize(base, models.dim) : base;
  const q = models.metric === 'cosine' ? kernels.normalize(queries, models.dim) : queries;
  const groundTruth = exactTopK(b, q, models.dim, models.metric === 'dot' ? 'dot' : 'l2', k, kernels);
  const tExact = ms(t1);
  const rows = [];
  let unscored = 0;
  const t2 = performance.now();
  const evaluator = await createRecallEvaluator(models, base, { kernels });
  const tIndex = ms(t2);
  for (const nprobes of nprobesList) {
    const t = performance.now();
    const r = await evaluator.evaluate(queries, { k, nprobes, groundTruth });
    const elapsed = performance.now() - t;
    // More probes than partitions probe them all: say how many were probed.
    const probed = Math.min(nprobes, models.ivf.numPartitions);
    rows.push({ nprobes, probed, recall: r.recall, index: r.index, meanCandidates: r.meanCandidates, ms: Math.round(elapsed), msPerQuery: elapsed / r.queries });
    unscored = r.unscored;
  }
  const warnings = unscored ? [`ivfkit: ${unscored} of ${queries.length / models.dim} queries have no exact neighbour (non-finite, or zero under cosine): left out of recall`] : [];
  if (!v.json) for (const w of warnings) process.stderr.write(`${w}\n`);
  const nq = queries.length / models.dim;
  if (v.json) {
    out(JSON.stringify({ command: 'eval', model: describe(models), k, base: base.length / models.dim, queries: nq, timings: { loadMs: tLoad, exactMs: tExact, indexMs: tIndex }, results: rows, ...(warnings.length ? { warnings } : {}) }));
    return;
  }
  out(`${describe(models)}: ${base.length / models.dim} base rows, ${nq} queries, k=${k} (load ${tLoad} ms, exact search ${tExact} ms, index ${tIndex} ms)`);
  for (const r of rows) out(`  nprobes ${String(r.nprobes).padStart(4)}${r.probed < r.nprobes ? ` (all ${r.probed} partitions)` : ''}  recall@${k} ${r.recall.toFixed(4)}  ${r.meanCandidates.toFixed(0)} candidates/query  ${r.ms} ms (${r.msPerQuery.toFixed(3)} ms/query)`);
}

async function info(args: string[], v: Values): Promise<void> {
  if (args.length !== 1) throw new IvfkitError('invalid-argument', `info: expected one model file, got ${args.length} argument(s)`);
  const { models, bytes } = await loadModel(args[0]!);
  const result = {
    command: 'info', file: args[0], bytes, metric: models.metric, dim: models.dim,
    numPartitions: models.ivf.numPartitions, ivfLoss: models.ivf.loss,
    pq: models.pq ? { numSubVectors: models.pq.numSubVectors, numBits: models.pq.numBits, subDim: models.dim / models.pq.numSubVectors } : null,
    sq: models.sq ? { numBits: models.sq.numBits, lower: models.sq.lower, upper: models.sq.upper } : null,
    sample: models.sample,
  };
  if (v.json) { out(JSON.stringify(result)); return; }
  out(`${args[0]}: ${describe(models)}, ${bytes} bytes`);
  out(`  IVF: ${models.ivf.numPartitions} centroids, loss ${models.ivf.loss.toPrecision(6)}`);
  if (result.pq) out(`  PQ: ${result.pq.numSubVectors} sub-vectors of dim ${result.pq.subDim}, ${result.pq.numBits}-bit codes`);
  if (result.sq) out(`  SQ: ${result.sq.numBits}-bit, bounds [${result.sq.lower}, ${result.sq.upper}]`);
  out(`  sample: ${models.sample.rows} rows, ${models.sample.dropped} dropped` +
    (models.sample.quant ? `; ${models.pq ? 'PQ' : 'SQ'} sample: ${models.sample.quant.rows} rows, ${models.sample.quant.dropped} dropped` : ''));
}

/** The version in ivfkit's package.json (two folders up from dist/cli/ and from src/cli/). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
  return `${pkg.name ?? 'ivfkit'} ${pkg.version ?? 'unknown'}`;
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: joinNegativeValues(argv), options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new IvfkitError('invalid-argument', `${(e as Error).message.split('\n')[0]} (see ivfkit --help)`);
    }
    const values = parsed.values as Values;
    const [command, ...rest] = parsed.positionals;
    if (values.help || command === 'help') { out(HELP.trimEnd()); return 0; }
    if (values.version || command === 'version') { out(packageVersion()); return 0; }
    if (command === undefined) {
      process.stderr.write(`${HELP.trimEnd()}\n\nivfkit: command: expected train | eval | info, got none\n`);
      return 1;
    }
    if (command === 'train' || command === 'eval' || command === 'info') checkCommandOptions(command, values);
    if (command === 'train') await train(rest, values);
    else if (command === 'eval') await evaluate(rest, values);
    else if (command === 'info') await info(rest, values);
    else throw new IvfkitError('invalid-argument', `command: expected train | eval | info, got "${command}" (see ivfkit --help)`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`ivfkit: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    if (process.env.IVFKIT_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return 1;
  }
}

const invoked = process.argv[1] ?? '';
if (/(^|[\\/])(main\.js|ivfkit)$/.test(invoked) || (await isSelf(invoked))) {
  // A reader that stops early (`ivfkit info m.arrow | head -1`) closes the pipe: that is not an error of ours.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}

async function isSelf(path: string): Promise<boolean> {
  if (!path) return false;
  try {
    return (await realpath(path)) === fileURLToPath(import.meta.url) && (await stat(path)).isFile();
  } catch { return false; }
}
