import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_LTS, nodeLts } from '../../scripts/node-lts.mjs';

// `npm run bench -- --quick` is the benchmark's smoke run: every workload on reduced shapes, once, with every peer
// that is installed (FAISS always is in the test environment; scikit-learn and the pure-JS k-means packages may not
// be, and must then be reported as such, not dropped), ivfkit also under the active Node LTS. Its own data and
// outputs go to a temporary directory.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'ivfkit-bench-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Row { impl: string; label: string; threads: number; status: string; objective?: number; node?: string;
  result?: { recall?: number; peerRecall?: number; iterations?: number } }
interface Report { workloads: Record<string, { title: string; rows?: Row[]; skipped?: string }>; targets: string[] }

describe('npm run bench -- --quick', () => {
  let report: Report;
  let stdout = '';

  it('runs every workload and writes its JSON report', () => {
    const json = join(work, 'report.json');
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--node', 'lts', '--json', json], {
      cwd: root, encoding: 'utf8', timeout: 420_000,
      env: { ...process.env, IVFKIT_BENCH_DIR: work, IVFKIT_BENCH_DATA: join(work, 'data'), NO_COLOR: '1' },
    });
    stdout = r.stdout ?? '';
    expect(r.status, `${stdout.slice(-2000)}${r.stderr ?? ''}`).toBe(0);
    report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(Object.keys(report.workloads)).toEqual(['A', 'B', 'C', 'D.pq', 'D.sq', 'E', 'F']);
    // A child cut at the quick timeout and run again passes, but is shown in the test's output.
    const again = stdout.split('\n').filter((l) => l.includes('run again after'));
    if (again.length) console.log(`bench --quick: ${again.join('; ')}`);
  }, 450_000);

  it('ivfkit runs on 1 and 2 threads and under both Nodes, with the same result everywhere', () => {
    for (const [id, w] of Object.entries(report.workloads)) {
      const mine = (w.rows ?? []).filter((r) => r.impl === 'ivfkit');
      const threads = id === 'C' ? [1] : [1, 2];
      for (const node of [undefined, NODE_LTS]) {
        for (const t of threads) {
          const row = mine.find((r) => r.threads === t && r.node === node);
          expect(row?.status, `${id} ivfkit ${t} thr node ${node ?? 'own'}`).toBe('ok');
        }
      }
      // Same seed and data: the same model bits, hence the same objective (or recall) for every thread count and Node.
      const values = mine.map((r) => r.objective ?? r.result?.recall);
      expect(values.every((v) => typeof v === 'number' && Number.isFinite(v)), id).toBe(true);
      expect(new Set(values).size, `${id}: ${values.join(', ')}`).toBe(1);
    }
  });

  it('reports every peer (FAISS measured; the others measured or named as not installed)', () => {
    const planned: Record<string, string[]> = {
      A: ['faiss', 'sklearn', 'ml-kmeans', 'skmeans'], B: ['faiss', 'sklearn'], C: ['faiss'], 'D.pq': ['faiss'], 'D.sq': ['faiss'],
      E: ['faiss', 'sklearn', 'ml-kmeans', 'skmeans'], F: ['faiss'],
    };
    for (const [id, impls] of Object.entries(planned)) {
      const rows = report.workloads[id]!.rows!;
      for (const impl of impls) {
        const mine = rows.filter((r) => r.impl === impl);
        expect(mine.length, `${id} ${impl}`).toBeGreaterThan(0);
        for (const r of mine) {
          if (impl === 'faiss') expect(r.status, `${id} ${r.label}`).toBe('ok');
          else expect(r.status, `${id} ${r.label}`).toMatch(/^(ok|not installed)/);
        }
      }
    }
  });

  it('k-means from the shared start reaches the peers\' objective; PQ, SQ and IVF land near FAISS; recall matches', () => {
    const obj = (id: string, impl: string) => report.workloads[id]!.rows!.filter((r) => r.impl === impl && r.status === 'ok').map((r) => r.objective!);
    for (const id of ['A', 'E']) {
      const mine = obj(id, 'ivfkit')[0]!;
      for (const impl of ['faiss', 'sklearn', 'ml-kmeans', 'skmeans']) {
        for (const v of obj(id, impl)) expect(Math.abs(v / mine - 1), `${id} ${impl}`).toBeLessThan(1e-4);
      }
    }
    for (const id of ['B', 'D.pq', 'D.sq']) {
      const mine = obj(id, 'ivfkit')[0]!;
      for (const v of obj(id, 'faiss')) expect(mine / v, `${id} ivfkit ÷ FAISS objective`).toBeLessThan(1.01);
    }
    expect(Math.abs(obj('C', 'ivfkit')[0]! / obj('C', 'faiss')[0]! - 1)).toBeLessThan(1e-4);
    const f = report.workloads.F!.rows!.find((r) => r.impl === 'ivfkit' && !r.node)!;
    expect(f.result!.recall!).toBeGreaterThan(0.5);
    expect(Math.abs(f.result!.recall! - f.result!.peerRecall!)).toBeLessThan(0.02);
  });

  it('prints the README summary with a line per workload and per extra Node, and judges no target on quick shapes', () => {
    const summary = stdout.slice(stdout.indexOf('## Summary'));
    for (const id of ['A', 'B', 'C', 'D.pq', 'D.sq', 'E', 'F']) expect(summary).toMatch(new RegExp(`^\\| ${id.replace('.', '\\.')}: `, 'm'));
    for (const id of ['A', 'B', 'D.pq', 'D.sq', 'E']) expect(summary).toContain(`| ${id}, ivfkit on Node ${NODE_LTS} |`);
    expect(stdout).toContain('the targets are judged on full-size runs only');
    expect(stdout).not.toMatch(/→ (PASS|MISS)/);
  });
});

describe('npm run bench -- --timeout', () => {
  it('cuts a child at its timeout, runs it again --retries times, and reports the row as failed with both kills', () => {
    const json = join(work, 'timeout.json');
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--only', 'C', '--peers', 'none', '--timeout', '0.05', '--retries', '1', '--json', json], {
      cwd: root, encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, IVFKIT_BENCH_DIR: work, IVFKIT_BENCH_DATA: join(work, 'data'), NO_COLOR: '1' },
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const rows = (JSON.parse(readFileSync(json, 'utf8')) as Report).workloads.C!.rows!;
    expect(rows.map((x) => x.impl)).toEqual(['ivfkit']);
    expect(rows[0]!.status).toMatch(/^failed: killed by SIGTERM after 0 s/);
    expect((rows[0] as Row & { retries?: string[] }).retries).toEqual([expect.stringMatching(/^round 1: killed by SIGTERM/)]);
    expect(r.stderr).toContain('running it again');
    expect(r.stdout).toMatch(/run again after round 1: killed by SIGTERM/);
  });

  it('rejects a timeout that is not a positive number and negative retries', () => {
    for (const args of [['--timeout', '0'], ['--timeout', 'x'], ['--retries', '-1']]) {
      const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`${args[0]}: expected`));
    }
  });
});

describe('npm run bench:peaks -- --quick', () => {
  // The instruction peaks behind the README's "what would close it": the loops build and run in every runtime; relaxed
  // SIMD is reported as missing where it does not validate (Node 20 without its flag), measured where it does.
  const peaks = (cmd: string, args: string[] = [], after: string[] = []) => {
    const r = spawnSync(cmd, [...args, 'bench/peaks.mjs', '--quick', ...after], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { runtime: string; relaxed: boolean; peaks: Record<string, number | null> };
  };

  it("the machine's Node, with and without the relaxed-SIMD flag, and the Node LTS", () => {
    const major = +process.versions.node.split('.')[0]!;
    const own = peaks(process.execPath);
    expect(own.relaxed).toBe(major >= 22);
    expect(own.peaks.i16Pair).toBeGreaterThan(0);
    expect(own.peaks.f32MulAdd).toBeGreaterThan(0);
    if (!own.relaxed) expect(own.peaks.i8Relaxed).toBeNull();
    const flagged = peaks(process.execPath, major < 22 ? ['--experimental-wasm-relaxed-simd'] : []);
    expect(flagged.relaxed).toBe(true);
    const lts = peaks(nodeLts(root));
    expect(lts.relaxed).toBe(true);
    for (const v of Object.values(lts.peaks)) expect(v).toBeGreaterThan(0);
  }, 300_000);

  it('headless Chromium (the page from a loopback port)', () => {
    const chromium = peaks(process.execPath, [], ['--chromium']);
    expect(chromium.runtime).toBe('chromium');
    expect(chromium.relaxed).toBe(true);
    for (const v of Object.values(chromium.peaks)) expect(v).toBeGreaterThan(0);
  }, 300_000);
});
