// The Node release tested (and optionally benchmarked) besides the machine's own: the active LTS line, pinned.
// npm's `node-<platform>-<arch>` package (the binaries behind the `node` package), packed and unpacked once into the
// git-ignored .cache/. Not a devDependency: its `node` bin would shadow the machine's Node in every npm script.
//   node scripts/node-lts.mjs        prints the binary's path (fetching it first when needed)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_LTS = '24.22.3';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Path of the Node {@link NODE_LTS} binary; throws, saying why, when it cannot be had. */
export function nodeLts(root = ROOT) {
  const dir = join(root, '.cache', `node-${NODE_LTS}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) {
    if (version(bin) === `v${NODE_LTS}`) return bin;
    // A cached binary that does not run as itself (an interrupted copy, another platform's) is fetched again, once.
    rmSync(join(dir, 'package'), { recursive: true, force: true });
  }
  {
    if (process.platform === 'win32') throw new Error(`node ${NODE_LTS}: expected a POSIX platform for npm's node-<platform>-<arch> layout, got win32`);
    const pkg = `node-${process.platform}-${process.arch}@${NODE_LTS}`;
    // Fetched and unpacked in a directory of this process's own, then renamed into place: test files that need it
    // at the same time on a fresh clone do not trip over each other's half-written files.
    mkdirSync(dir, { recursive: true });
    const tmp = mkdtempSync(join(dir, 'fetch-'));
    try {
      const packed = spawnSync('npm', ['pack', pkg, '--pack-destination', tmp, '--silent'], { encoding: 'utf8', timeout: 240_000 });
      const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
      if (packed.status !== 0 || !tgz) {
        throw new Error(`node ${NODE_LTS}: expected \`npm pack ${pkg}\` to fetch it from the npm registry, got status ${packed.status}: ` +
          `${(packed.stderr || String(packed.error ?? '')).trim().split('\n').slice(-2).join(' | ')}`);
      }
      const tar = spawnSync('tar', ['-xzf', join(tmp, tgz), '-C', tmp, 'package/bin/node'], { encoding: 'utf8' });
      if (tar.status !== 0) throw new Error(`node ${NODE_LTS}: expected tar to unpack package/bin/node, got status ${tar.status}: ${tar.stderr.trim()}`);
      try { renameSync(join(tmp, 'package'), join(dir, 'package')); } catch (e) { if (!existsSync(bin)) throw e; }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const v = version(bin);
  if (v !== `v${NODE_LTS}`) throw new Error(`node ${NODE_LTS}: expected ${bin} --version to print v${NODE_LTS}, got ${v}`);
  return bin;
}

/** What `bin --version` prints (or why it printed nothing). */
function version(bin) {
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return v.stdout?.trim() || v.stderr?.trim() || String(v.error);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(nodeLts());
