import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeServer, launchChromium, servePage } from '../../scripts/browser.mjs';
import { NODE_LTS, nodeLts } from '../../scripts/node-lts.mjs';

// The published kernels (dist/, built by `npm run build` before the tests) load and agree with plain JS
// under Node (the machine's and the active LTS), Deno and Bun. Deno runs with no permission flags: the wasm is
// inlined, nothing is read.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

// `reports`: the runtime the fixtures print (both Nodes say node). Relaxed SIMD ships without a flag from Node 22 on.
const runtimes: Array<{ name: string; reports: string; cmd: () => string; args: string[]; builds: RegExp }> = [
  { name: 'node', reports: 'node', cmd: () => process.execPath, args: ['test/fixtures/smoke.mjs'], builds: /auto=(simd builds=simd,scalar|dot8 builds=simd,dot8,relaxed,scalar eight=same-bits dot8=(native|emulated))$/m },
  { name: `node ${NODE_LTS}`, reports: 'node', cmd: () => nodeLts(root), args: ['test/fixtures/smoke.mjs'], builds: /auto=dot8 builds=simd,dot8,relaxed,scalar eight=same-bits dot8=(native|emulated)$/m },
  { name: 'deno', reports: 'deno', cmd: () => bin('deno'), args: ['run', 'test/fixtures/smoke.mjs'], builds: /auto=dot8 builds=simd,dot8,relaxed,scalar eight=same-bits dot8=(native|emulated)$/m },
  { name: 'bun', reports: 'bun', cmd: () => bin('bun'), args: ['test/fixtures/smoke.mjs'], builds: /auto=dot8 builds=simd,dot8,relaxed,scalar eight=same-bits dot8=(native|emulated)$/m },
];

describe('kernels in every runtime', () => {
  it('dist/kernels/index.js exists (npm run build ran)', () => {
    expect(existsSync(join(root, 'dist', 'kernels', 'index.js'))).toBe(true);
  });

  it.each(runtimes)('$name loads the kernels and assigns like plain JS', ({ reports, cmd, args, builds }) => {
    const r = spawnSync(cmd(), args, { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
    expect(r.status, output).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^OK ${reports} `, 'm'));
    expect(r.stdout).toMatch(builds);
  });
});

describe('the worker entry on a main thread', () => {
  it.each(runtimes)('$name exits after importing dist/workers/worker.js (no message listener left behind)', ({ cmd, args }) => {
    const r = spawnSync(cmd(), args.map((a) => (a === 'test/fixtures/smoke.mjs' ? 'test/fixtures/import-worker.mjs' : a)),
      { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`).toBe(0);
    expect(r.stdout).toMatch(/^IMPORTED$/m);
  });
});

describe('the same models in every runtime', () => {
  // IVF-PQ (group-bound sessions, 16-bit filter, PQ group bounds), k-means with pair bounds (k 512, 256 values) and
  // cosine IVF + SQ, trained by test/fixtures/train-bits.mjs under each runtime: the digests must match Node's.
  const run = ({ reports, cmd, args }: (typeof runtimes)[number]) => {
    const bitsArgs = args.map((a) => (a === 'test/fixtures/smoke.mjs' ? 'test/fixtures/train-bits.mjs' : a));
    const r = spawnSync(cmd(), bitsArgs, { cwd: root, encoding: 'utf8', timeout: 180_000, env: { ...process.env, NO_COLOR: '1' } });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
    expect(r.status, output).toBe(0);
    const m = /^BITS (\w+) (\{.*\}) (\{.*\})$/m.exec(r.stdout);
    expect(m, output).not.toBeNull();
    expect(m![1]).toBe(reports);
    return { digests: JSON.parse(m![2]!) as Record<string, string>, used: JSON.parse(m![3]!) as Record<string, number | string> };
  };

  /** The fixture in headless Chromium: a loopback server for the page, dist/ and the fixture; its console line. */
  const inChromium = async () => {
    const { server, base } = await servePage('<!doctype html><script type="module" src="/test/fixtures/train-bits.mjs"></script>',
      ['/test/fixtures/train-bits.mjs']);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const line = new Promise<string>((resolve) => page.on('console', (m) => { if (m.text().startsWith('BITS ')) resolve(m.text()); }));
      await page.goto(`${base}/`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<string>((_, reject) => { timer = setTimeout(() => reject(new Error(`no BITS line; page errors: ${errors.join('; ')}`)), 240_000); });
      const text = await Promise.race([line, late]).finally(() => clearTimeout(timer));
      const m = /^BITS (\w+) (\{.*\}) (\{.*\})$/.exec(text);
      expect(m, text).not.toBeNull();
      expect(m![1]).toBe('chromium');
      return { digests: JSON.parse(m![2]!) as Record<string, string>, used: JSON.parse(m![3]!) as Record<string, number | string> };
    } finally {
      await browser.close();
      await closeServer(server);
    }
  };

  it(`Node (the machine's and ${NODE_LTS}), Deno, Bun and Chromium train IVF-PQ, pair-bound k-means, k-256 k-means and cosine IVF-SQ to the same bits`, async () => {
    const [node, ...others] = runtimes.map(run);
    others.push(await inChromium());
    const names = [...runtimes.map((r) => r.name), 'chromium'];
    expect(Object.keys(node!.digests).sort()).toEqual(['balancedOn', 'cosineSq', 'fullSteps', 'ivfpq', 'pairs', 'pairsOn']);
    for (const v of Object.values(node!.digests)) expect(v).toMatch(/^[0-9a-f]{8}$/);
    expect(new Set(Object.values(node!.digests)).size).toBe(5);    // pairs and pairsOn: the same model
    expect(node!.digests.pairsOn).toBe(node!.digests.pairs);
    // The paths the digests are meant to cover were taken (a policy change must not drop them silently). Node 20
    // (no relaxed SIMD without a flag) runs the SIMD build; the others the dot8 build, whose 8-bit stage the filter
    // forced on takes (pairsOn, balancedOn): the same bits as Node 20's 16-bit filter alone.
    expect(node!.used).toMatchObject({ pairs: 1, pqGroups: 1, build: 'simd', eightOn: 0, eightFull: 0, native8: false });
    expect(node!.used.groups as number).toBeGreaterThanOrEqual(2);  // the IVF k-means of both trainLocal runs
    expect(node!.used.filteredRows as number).toBeGreaterThan(1000);
    // Rows computed in full may differ: the 8-bit stage's estimates leave looser bounds for later steps.
    const { build: _b, eightOn: _e, eightFull: _g, native8: _n, filteredRows: _f, ...paths } = node!.used;
    others.forEach((o, i) => {
      expect(o.digests, names[i + 1]).toEqual(node!.digests);
      expect(o.used, names[i + 1]).toMatchObject({ ...paths, build: 'dot8' });
      expect(o.used.filteredRows as number).toBeGreaterThan(1000);
      expect(o.used.eightOn as number, `${names[i + 1]}: rows through the 8-bit stage`).toBeGreaterThan(1000);
      // k 256 in 'auto': where the probe finds the 8-bit dot native, the full steps (those before the bounds start,
      // 6,000 rows each) take the 8-bit stage; elsewhere (Bun's engine here) none do. The same bits either way.
      const full = o.used.eightFull as number, what = `${names[i + 1]}: rows of the k-256 full steps through the 8-bit stage`;
      if (o.used.native8) expect(full, what).toBeGreaterThanOrEqual(6000); else expect(full, what).toBe(0);
    });
  }, 600_000);
});
