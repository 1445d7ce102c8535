// `node tests/browser/pdf.mjs <site>`: prints each language's print page (print.html, every chapter,
// diagrams rendered) to <site>/kmem-book.pdf and <site>/zh-CN/kmem-book.pdf with Chromium. Run by
// `cargo xtask build --pdf`.
import { diagrams, launch, open, serve } from './site.mjs';

const site = process.argv[2] || 'book';
const server = await serve(site);
const browser = await launch();
try {
    const context = await browser.newContext();
    // mdBook's print.html calls window.print() once loaded; headless Chromium then holds the page "already
    // being printed" for a while, and page.pdf() in that window fails. The PDF is printed here instead.
    await context.addInitScript(() => {
        window.print = () => {};
    });
    for (const lang of ['', 'zh-CN/']) {
        const { page, problems } = await open(context, `${server.url}${lang}print.html`);
        const { blocks, svgs } = await diagrams(page);
        await page.evaluate(() => document.fonts.ready);
        if (problems.length || svgs !== blocks) {
            throw new Error(`${lang}print.html: ${svgs}/${blocks} diagrams rendered; ${problems.join('; ')}`);
        }
        const out = `${site}/${lang}kmem-book.pdf`;
        await page.pdf({
            path: out, format: 'A4', printBackground: true, outline: true, tagged: true,
            margin: { top: '16mm', bottom: '16mm', left: '14mm', right: '14mm' },
        });
        console.error(`==> wrote ${out}`);
        await page.close();
    }
} catch (e) {
    // One line, not Node's uncaught-exception dump: the caller (cargo xtask) says what failed.
    console.error(`error: ${e.message.split('\n')[0]}`);
    process.exitCode = 1;
} finally {
    await browser.close();
    server.close();
}
