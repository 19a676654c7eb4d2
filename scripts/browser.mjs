// Running built code in real Chromium (the tests and `npm run bench:peaks -- --chromium`): a loopback server for one
// page plus dist/ (and any other repository files the caller allows) or a built app's directory, and the browser
// launched from Debian's chromium.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.map': 'application/json', '.wasm': 'application/wasm' };

/** Serves `page` at / and files under dist/ (and `extra` paths) from the repository on 127.0.0.1; resolves to the base URL. */
export function servePage(page, extra = []) {
  return serve((path) => (path === '/' ? page : path.startsWith('/dist/') || extra.includes(path) ? readFile(join(root, path)) : undefined));
}

/** Serves the files under directory `dir` (index.html at /) on 127.0.0.1; resolves to the base URL. */
export function serveDir(dir) {
  return serve((path) => (path.includes('..') ? undefined : readFile(join(dir, path === '/' ? 'index.html' : path))));
}

/** A loopback server answering each path with `route(path)` (a body, or undefined / a rejection for 404). */
async function serve(route) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const body = await Promise.resolve().then(() => route(path)).catch(() => undefined);
    if (body === undefined) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': path === '/' ? 'text/html' : types[extname(path)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}

/** Closes a server from {@link servePage} (resolves at once for none). */
export const closeServer = (server) => new Promise((r) => (server ? server.close(() => r()) : r()));

/** Headless Chromium (`CHROMIUM_PATH` or /usr/bin/chromium). */
export async function launchChromium() {
  const { chromium } = await import('playwright');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
}
