import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The Node release tested besides the machine's own: the active LTS line, pinned so that runs are repeatable. */
export const NODE_LTS = '24.22.3';

/**
 * A Node {@link NODE_LTS} binary: npm's `node-<platform>-<arch>` package (the binaries behind the `node` package), packed
 * and unpacked once into `.cache/` (git-ignored). Not a devDependency: its `node` bin would shadow the machine's Node in
 * every npm script. Throws, saying why, when it cannot be had (the tests that need it then fail, in CI and locally).
 */
export function nodeLts(root: string): string {
  const dir = join(root, '.cache', `node-${NODE_LTS}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (!existsSync(bin)) {
    if (process.platform === 'win32') throw new Error(`node ${NODE_LTS}: expected a POSIX platform for npm's node-<platform>-<arch> layout, got win32`);
    const pkg = `node-${process.platform}-${process.arch}@${NODE_LTS}`;
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.tgz')) rmSync(join(dir, f));
    const packed = spawnSync('npm', ['pack', pkg, '--pack-destination', dir, '--silent'], { encoding: 'utf8', timeout: 240_000 });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (packed.status !== 0 || !tgz) {
      throw new Error(`node ${NODE_LTS}: expected \`npm pack ${pkg}\` to fetch it from the npm registry, got status ${packed.status}: ` +
        `${(packed.stderr || String(packed.error ?? '')).trim().split('\n').slice(-2).join(' | ')}`);
    }
    const tar = spawnSync('tar', ['-xzf', join(dir, tgz), '-C', dir, 'package/bin/node'], { encoding: 'utf8' });
    rmSync(join(dir, tgz));
    if (tar.status !== 0) throw new Error(`node ${NODE_LTS}: expected tar to unpack package/bin/node, got status ${tar.status}: ${tar.stderr.trim()}`);
  }
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (v.stdout?.trim() !== `v${NODE_LTS}`) throw new Error(`node ${NODE_LTS}: expected ${bin} --version to print v${NODE_LTS}, got ${v.stdout?.trim() || v.stderr?.trim() || String(v.error)}`);
  return bin;
}
