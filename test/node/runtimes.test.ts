import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The published kernels (dist/, built by `npm run build` before the tests) load and agree with plain JS
// under Node, Deno and Bun. Deno runs with no permission flags: the wasm is inlined, nothing is read.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

const runtimes: Array<{ name: string; cmd: string; args: string[]; builds: RegExp }> = [
  { name: 'node', cmd: process.execPath, args: ['test/fixtures/smoke.mjs'], builds: /auto=simd builds=simd,(relaxed,)?scalar/ },
  { name: 'deno', cmd: bin('deno'), args: ['run', 'test/fixtures/smoke.mjs'], builds: /auto=simd builds=simd,relaxed,scalar/ },
  { name: 'bun', cmd: bin('bun'), args: ['test/fixtures/smoke.mjs'], builds: /auto=simd builds=simd,relaxed,scalar/ },
];

describe('kernels in every runtime', () => {
  it('dist/kernels/index.js exists (npm run build ran)', () => {
    expect(existsSync(join(root, 'dist', 'kernels', 'index.js'))).toBe(true);
  });

  it.each(runtimes)('$name loads the kernels and assigns like plain JS', ({ name, cmd, args, builds }) => {
    const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
    expect(r.status, output).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^OK ${name} `, 'm'));
    expect(r.stdout).toMatch(builds);
  });
});
