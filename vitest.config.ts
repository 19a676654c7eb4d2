import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const crossOriginIsolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

// Node runs every *.test.ts; Chromium runs the files that are platform-neutral (*.test.ts under
// test/shared/). Files under test/node/ use node: modules, servers or child processes.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      // Node 20 can abort the whole process when a worker thread is terminated while V8 compiles for it in the background
      // (`NodePlatform::ForIsolate` assertion, a concurrent TurboFan job outliving the isolate; twice in workers.test.ts, which
      // closes and aborts many pools). Compiling on the worker's own thread keeps that race out of the test runs.
      { test: { name: 'node', include: ['test/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000, execArgv: ['--no-concurrent-recompilation'] } },
      {
        server: { headers: crossOriginIsolation },
        test: {
          name: 'browser',
          include: ['test/shared/**/*.test.ts'],
          testTimeout: 300_000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            instances: [{ browser: 'chromium' }],
            provider: playwright({ launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: chromiumArgs } }),
          },
        },
      },
    ],
  },
});
