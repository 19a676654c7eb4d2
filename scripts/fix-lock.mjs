// The npm registry reachable from our machines serves only the linux-x64 builds of packages that
// ship one binary package per platform (deno, msgpackr-extract), so `npm install` leaves the other
// platforms out of package-lock.json and `npm ci` then refuses the lock. This records each missing
// optional platform package with its os/cpu, which is all `npm ci` needs to skip it on Linux x64.
// Run after any `npm install`: node scripts/fix-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
const platform = (name) => {
  const m = /(darwin|linux|win32|freebsd)-(arm64|x64|arm|ia32)(?:-(glibc|musl))?$/.exec(name);
  if (!m) return null;
  const p = { os: [m[1]], cpu: [m[2]] };
  if (m[3]) p.libc = [m[3]];
  return p;
};
let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (pkgs[key] || pkgs[`${path}/node_modules/${dep}`]) continue;
    const p = platform(dep);
    if (!p) continue;
    pkgs[key] = { version: version.replace(/^[\^~=]/, ''), ...p, dev: meta.dev, optional: true };
    if (!meta.dev) delete pkgs[key].dev;
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
lock.packages = sorted;
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`fix-lock: recorded ${added} platform package(s)`);
