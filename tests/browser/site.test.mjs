// The browser suite: the built bilingual site (KMEM_SITE, default book/) in Debian's Chromium.
// Run by `cargo xtask browser-test` (which installs Chromium, the CJK font and playwright-core first):
//   KMEM_SITE=book KMEM_ARTIFACTS=target/browser node --test tests/browser/site.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { diagrams, launch, open, serve } from './site.mjs';

const SITE = process.env.KMEM_SITE || 'book';
const ARTIFACTS = process.env.KMEM_ARTIFACTS || 'target/browser';
const LANGS = [
    { lang: 'en', dir: '' },
    { lang: 'zh-CN', dir: 'zh-CN/' },
];
// toc.html is mdBook's no-JavaScript sidebar frame, not a page; zh-CN/404.html is never served (GitHub
// Pages answers every missing path with the root 404.html) and, built for the site root, cannot load.
const SKIP = ['toc.html', 'zh-CN/toc.html', 'zh-CN/404.html'];
const html = (dir) =>
    readdirSync(`${SITE}/${dir}`).filter((f) => f.endsWith('.html') && !SKIP.includes(dir + f)).sort();
/** The chapter pages (what the switcher and the search index cover). */
const isChapter = (f) => /^(introduction|ch|appendix)/.test(f);
const other = (dir) => (dir ? '' : 'zh-CN/');

let server, browser, context;
before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await serve(SITE);
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});
after(async () => {
    await browser?.close();
    server?.close();
});

/** Opens a page, runs `check(page)`, then fails on anything the page did wrong meanwhile. */
async function visit(path, check) {
    const { page, problems } = await open(context, server.url + path);
    try {
        return await check(page);
    } finally {
        await page.close();
        assert.deepEqual(problems, [], `${path}: errors or foreign requests`);
    }
}

const headingIds = (page) => page.$$eval('main :is(h1,h2,h3,h4,h5,h6)[id]', (hs) => hs.map((h) => h.id));

for (const { lang, dir } of LANGS) {
    test(`${lang}: every page loads cleanly, renders its diagrams and has copy buttons`, async (t) => {
        assert.ok(html(dir).filter(isChapter).length >= 16, 'chapters missing');
        for (const file of html(dir)) {
            await t.test(dir + file, () =>
                visit(dir + file, async (page) => {
                    const { blocks, svgs } = await diagrams(page);
                    assert.equal(svgs, blocks, `${svgs} of ${blocks} Mermaid diagrams rendered`);
                    const code = await page.$$eval('pre > code', (cs) => ({
                        blocks: cs.length,
                        buttons: cs.filter((c) => c.parentElement.querySelector(':scope > .buttons > .clip-button')).length,
                    }));
                    assert.equal(code.buttons, code.blocks, 'code blocks without a copy button');
                    if (file.startsWith('ch')) assert.ok(code.blocks > 0, 'no code block');
                }),
            );
        }
    });

    test(`${lang}: the language switcher keeps the page, its headings and its anchor`, async (t) => {
        for (const file of html(dir).filter(isChapter)) {
            await t.test(dir + file, () =>
                visit(dir + file, async (page) => {
                    const ids = await headingIds(page);
                    const [response] = await Promise.all([
                        page.waitForNavigation(),
                        page.click('.kmem-lang-switch a.kmem-lang'),
                    ]);
                    assert.equal(response.status(), 200, `switcher went to a missing page: ${page.url()}`);
                    assert.equal(new URL(page.url()).pathname, `/${other(dir)}${file}`);
                    assert.deepEqual(await headingIds(page), ids, 'heading ids differ between the languages');
                }),
            );
        }
        const anchor = 'ch07-vmalloc.html';
        await t.test(`${dir}${anchor}#<second heading> keeps its anchor`, () =>
            visit(dir + anchor, async (page) => {
                const id = (await headingIds(page))[1];
                await page.goto(`${server.url}${dir}${anchor}#${id}`);
                await Promise.all([page.waitForNavigation(), page.click('.kmem-lang-switch a.kmem-lang')]);
                assert.equal(new URL(page.url()).hash, `#${id}`);
                assert.ok(await page.$(`[id="${id}"]`), 'anchor missing in the other language');
            }),
        );
    });
}

/** Searches from a language's front page; returns the result links (absolute URLs). */
async function search(page, term) {
    await page.fill('.pagefind-ui__search-input', term);
    await page.waitForSelector('.pagefind-ui__result-link', { timeout: 15000 });
    await page.waitForFunction(() => !document.querySelector('.pagefind-ui__loading'), null, { timeout: 15000 });
    return page.$$eval('.pagefind-ui__result-link', (as) => as.map((a) => a.href));
}

const SEARCHES = [
    { dir: 'zh-CN/', term: '伙伴', expect: 'ch03-buddy.html' },
    { dir: 'zh-CN/', term: '内存池', expect: 'ch09-mempool.html' },
    { dir: 'zh-CN/', term: '分配', expect: 'ch03-buddy.html' },
    { dir: 'zh-CN/', term: 'vmalloc', expect: 'ch07-vmalloc.html' },
    { dir: '', term: 'vmalloc', expect: 'ch07-vmalloc.html' },
    { dir: '', term: 'mempool', expect: 'ch09-mempool.html' },
    { dir: '', term: 'buddy', expect: 'ch03-buddy.html' },
];

test('search finds English and Chinese terms, in the page language, and its results load', async (t) => {
    for (const { dir, term, expect } of SEARCHES) {
        await t.test(`${dir || 'en/'} ${term}`, () =>
            visit(`${dir}index.html`, async (page) => {
                const links = await search(page, term);
                const pages = links.map((l) => new URL(l).pathname);
                assert.ok(pages.includes(`/${dir}${expect}`), `${expect} not among ${pages.join(' ')}`);
                for (const p of pages) {
                    assert.ok(dir ? p.startsWith('/zh-CN/') : !p.startsWith('/zh-CN/'), `result in the other language: ${p}`);
                    const response = await fetch(server.url + p.slice(1));
                    assert.equal(response.status, 200, `result links to a missing page: ${p}`);
                }
                const [response] = await Promise.all([
                    page.waitForNavigation(),
                    page.click(`.pagefind-ui__result-link[href^="/${dir}${expect}"]`),
                ]);
                assert.equal(response.status(), 200);
                assert.ok(await page.$('main h1'), 'result page has no title');
            }),
        );
    }
});

test('print pages hold every chapter with its diagrams rendered', async (t) => {
    for (const { lang, dir } of LANGS) {
        await t.test(`${dir}print.html`, () =>
            visit(`${dir}print.html`, async (page) => {
                const chapters = html(dir).filter(isChapter);
                const titles = chapters.map((f) => readFileSync(`${SITE}/${dir}${f}`, 'utf8').match(/<h1 id="([^"]+)"/)[1]);
                const printed = await headingIds(page);
                for (const id of titles) assert.ok(printed.includes(id), `chapter #${id} missing from ${lang} print.html`);
                const expected = chapters
                    .map((f) => readFileSync(`${SITE}/${dir}${f}`, 'utf8').split('<pre class="mermaid"').length - 1)
                    .reduce((a, b) => a + b);
                const { blocks, svgs } = await diagrams(page);
                assert.equal(blocks, expected, 'diagrams missing from print.html');
                assert.equal(svgs, blocks, `${svgs} of ${blocks} diagrams rendered in print.html`);
            }),
        );
    }
});

test('the Chinese pages are set in a CJK font (screenshots in the artifacts)', async (t) => {
    const shots = ['index.html', 'ch03-buddy.html', 'ch07-vmalloc.html'];
    for (const { lang, dir } of LANGS) {
        for (const file of shots) {
            await t.test(`${dir}${file}`, () =>
                visit(dir + file, async (page) => {
                    await diagrams(page);
                    await page.evaluate(() => document.fonts.ready);
                    const name = `${ARTIFACTS}/${lang}-${file.replace('.html', '')}`;
                    await page.screenshot({ path: `${name}.png` });
                    const diagram = await page.$('pre.mermaid svg');
                    if (diagram) await diagram.screenshot({ path: `${name}-diagram.png` });
                    if (!dir) return;
                    // Which fonts Chromium really used for the first paragraph (not what CSS asked for).
                    const cdp = await context.newCDPSession(page);
                    await cdp.send('DOM.enable');
                    await cdp.send('CSS.enable');
                    const { root } = await cdp.send('DOM.getDocument');
                    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: 'main p' });
                    const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
                    assert.ok(fonts.some((f) => /CJK/.test(f.familyName)), `no CJK font: ${JSON.stringify(fonts)}`);
                }),
            );
        }
    }
});

/** `pdffonts` / `pdftotext` (poppler-utils) when installed; the raw file otherwise. */
const poppler = (tool, args) => {
    try {
        return execFileSync(tool, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
    } catch (e) {
        if (e.code === 'ENOENT') return null;
        throw e;
    }
};

test('PDFs of both languages (cargo xtask build --pdf): every chapter, fonts embedded', async (t) => {
    for (const { lang, dir } of LANGS) {
        await t.test(`${dir}kmem-book.pdf`, () => {
            const pdf = `${SITE}/${dir}kmem-book.pdf`;
            assert.ok(existsSync(pdf), `${pdf} missing: build with cargo xtask build --pdf`);
            const bytes = readFileSync(pdf);
            assert.equal(bytes.subarray(0, 5).toString(), '%PDF-');
            const fonts = poppler('pdffonts', [pdf]);
            if (fonts === null) {
                t.diagnostic('pdffonts not installed: checking the raw file for embedded fonts only');
                assert.match(bytes.toString('latin1'), /\/FontFile2?/);
                return;
            }
            const rows = fonts.split('\n').slice(2).filter(Boolean);
            assert.ok(rows.length > 0, 'no fonts');
            // Columns: name type [type] encoding emb sub uni object ID; `emb` is the 5th from the end.
            const unembedded = rows.filter((r) => r.trim().split(/\s+/).at(-5) !== 'yes');
            assert.deepEqual(unembedded, [], 'fonts not embedded');
            // Chromium embeds Noto Sans CJK (an OpenType/CFF collection) as Type 3 glyph fonts with a
            // Unicode map: the text must come back out, chapter titles included.
            const text = poppler('pdftotext', ['-enc', 'UTF-8', pdf, '-']);
            for (const f of html(dir).filter(isChapter)) {
                const title = readFileSync(`${SITE}/${dir}${f}`, 'utf8')
                    .match(/<h1 id="[^"]+"[^>]*>(?:<a[^>]*>)?([^<]+)/)[1]
                    .replace(/&[a-z]+;|&#\d+;/g, ' ').split(/\s+/).filter((w) => w.length > 1)[0];
                assert.ok(text.includes(title), `${lang} PDF lacks the title of ${f} (${title})`);
            }
            if (dir) assert.match(text, /伙伴分配器/);
        });
    }
});
