import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright';

// Shared by the tests that run built code in real Chromium: a loopback server for one page plus dist/ (and any
// other repository files the caller allows), and the browser launched from Debian's chromium.
const root = fileURLToPath(new URL('../../', import.meta.url));
const types: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.map': 'application/json' };

/** Serves `page` at / and files under dist/ (and `extra` paths) from the repository on 127.0.0.1; resolves to the base URL. */
export async function servePage(page: string, extra: string[] = []): Promise<{ server: Server; base: string }> {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end(page); return; }
    if (!path.startsWith('/dist/') && !extra.includes(path)) { res.writeHead(404).end(); return; }
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export const closeServer = (server: Server | undefined): Promise<void> => new Promise<void>((r) => (server ? server.close(() => r()) : r()));

/** Headless Chromium (`CHROMIUM_PATH` or /usr/bin/chromium). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
}
