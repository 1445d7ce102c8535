// The book as README's `mdbook serve` serves it: one language (KMEM_LANG, en or zh-CN) at KMEM_SERVED,
// built by the pinned mdbook with its own search (no Pagefind). Run by `cargo xtask browser-test`, which
// starts `mdbook serve` for each language:
//   KMEM_SERVED=http://127.0.0.1:3000/ KMEM_LANG=en node --test tests/browser/mdbook-serve.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { diagrams, launch, open } from './site.mjs';

const SERVED = process.env.KMEM_SERVED;
const LANG = process.env.KMEM_LANG || 'en';
// mdBook's search splits words at spaces: Latin terms are found in both editions; the Chinese edition's
// CJK words are Pagefind's job (`cargo xtask serve`).
const SEARCHES = [
    { term: 'vmalloc', expect: 'ch07-vmalloc.html' },
    { term: 'mempool', expect: 'ch09-mempool.html' },
];

let browser, context;
before(async () => {
    assert.ok(SERVED, 'KMEM_SERVED (the URL mdbook serve listens on) is not set');
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});
after(async () => {
    await browser?.close();
});

async function visit(path, check) {
    const { page, problems } = await open(context, SERVED + path);
    try {
        return await check(page);
    } finally {
        await page.close();
        assert.deepEqual(problems, [], `${path}: errors or foreign requests`);
    }
}

/** The chapter pages, as the sidebar lists them. */
async function chapters() {
    return visit('index.html', (page) =>
        page.$$eval('#mdbook-sidebar a[href], .sidebar a[href]', (as) => [
            ...new Set(as.map((a) => new URL(a.href).pathname.slice(1)).filter((p) => /^(introduction|ch|appendix)/.test(p))),
        ]),
    );
}

test(`mdbook serve (${LANG}): every chapter loads cleanly in the page language, its diagrams drawn`, async (t) => {
    const pages = await chapters();
    assert.ok(pages.length >= 16, `the sidebar lists ${pages.length} chapters`);
    for (const path of pages) {
        await t.test(path, () =>
            visit(path, async (page) => {
                assert.equal(await page.getAttribute('html', 'lang'), LANG);
                const { blocks, svgs } = await diagrams(page);
                assert.equal(svgs, blocks, `${svgs} of ${blocks} Mermaid diagrams rendered`);
                assert.equal(await page.$('#kmem-search'), null, 'a Pagefind box, which mdbook serve cannot index');
            }),
        );
    }
});

test(`mdbook serve (${LANG}): the search box finds chapters and its results load`, async (t) => {
    for (const { term, expect } of SEARCHES) {
        await t.test(term, () =>
            visit('index.html', async (page) => {
                await page.click('#mdbook-search-toggle');
                // mdBook's searcher listens for keyup, so the term is typed, not filled in.
                await page.locator('#mdbook-searchbar').pressSequentially(term);
                await page.waitForSelector('#mdbook-searchresults li a', { timeout: 15000 });
                const links = await page.$$eval('#mdbook-searchresults li a', (as) => as.map((a) => a.href));
                const pages = links.map((l) => new URL(l).pathname.slice(1));
                assert.ok(pages.includes(expect), `${expect} not among ${pages.join(' ')}`);
                const [response] = await Promise.all([
                    page.waitForNavigation(),
                    page.click(`#mdbook-searchresults li a[href^="${expect}"]`),
                ]);
                assert.equal(response.status(), 200);
                assert.ok(await page.$('main h1'), 'result page has no title');
            }),
        );
    }
});
