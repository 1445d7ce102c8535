// Shared by the browser suite (site.test.mjs) and the PDF printer (pdf.mjs): a static server for the
// built site on 127.0.0.1, Debian's Chromium through playwright-core, and a page loader that records
// everything a page does wrong.
import { createServer } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
    '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
    '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2',
    '.woff': 'font/woff', '.ttf': 'font/ttf', '.pdf': 'application/pdf', '.wasm': 'application/wasm',
};

/** Serves `root` on 127.0.0.1 (a free port); a missing file is a 404 with the site's 404.html. */
export async function serve(root) {
    const server = createServer((req, res) => {
        let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
        let file = normalize(join(root, path));
        let status = 200;
        try {
            if (!file.startsWith(normalize(root + sep)) && file !== normalize(root)) throw new Error('outside');
            if (statSync(file).isDirectory()) file = join(file, 'index.html');
            statSync(file);
        } catch {
            [status, file] = [404, join(root, '404.html')];
        }
        res.writeHead(status, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
        res.end(readFileSync(file));
    });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

/** Chromium as the project runs it: headless, no network of its own, a fresh profile (playwright makes one). */
export function launch() {
    return chromium.launch({
        executablePath: process.env.KMEM_CHROMIUM || '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
}

const LOCAL = new Set(['127.0.0.1', 'localhost']);

/**
 * Opens `url` in a new page of `context` and watches it: console errors, uncaught exceptions, failed or
 * non-2xx requests, and any request to a host other than 127.0.0.1/localhost. Returns the page and the
 * list of problems (checked by the caller once it is done with the page, so clicks count too).
 */
export async function open(context, url) {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
    page.on('request', (r) => {
        const u = new URL(r.url());
        if (['data:', 'blob:', 'about:'].includes(u.protocol)) return;
        if (!LOCAL.has(u.hostname)) problems.push(`request leaves 127.0.0.1: ${r.url()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
    await page.goto(url, { waitUntil: 'load' });
    return { page, problems };
}

/**
 * Waits until Mermaid has processed every `pre.mermaid`, then counts diagrams and real SVGs (Mermaid
 * draws a "Syntax error" SVG for a broken diagram; that one does not count).
 */
export async function diagrams(page) {
    await page
        .waitForFunction(
            () => [...document.querySelectorAll('pre.mermaid')].every((p) => p.getAttribute('data-processed')),
            null,
            { timeout: 20000 },
        )
        .catch(() => {});
    return page.evaluate(() => {
        const pres = [...document.querySelectorAll('pre.mermaid')];
        const ok = pres.filter((p) => {
            const svg = p.querySelector('svg');
            return svg && svg.getAttribute('aria-roledescription') !== 'error' && !/Syntax error/.test(svg.textContent);
        });
        return { blocks: pres.length, svgs: ok.length };
    });
}
