import type { Server } from 'node:http';
import type { Browser } from 'playwright';
/** Serves `page` at / and files under dist/ (and `extra` paths) from the repository on 127.0.0.1; resolves to the base URL. */
export declare function servePage(page: string, extra?: string[]): Promise<{ server: Server; base: string }>;
/** Closes a server from {@link servePage} (resolves at once for none). */
export declare function closeServer(server: Server | undefined): Promise<void>;
/** Headless Chromium (`CHROMIUM_PATH` or /usr/bin/chromium). */
export declare function launchChromium(): Promise<Browser>;
