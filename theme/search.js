// Mounts the Pagefind search UI (theme/header.hbs renders #kmem-search with the bundle's path). Pagefind
// picks the index of the page's <html lang>, so English pages search the English book and Chinese pages
// the Chinese one, with Chinese word segmentation. theme/header.hbs renders the box only in sites built
// by `cargo xtask build|serve`, which make the bundle; a plain `mdbook build|serve` uses mdBook's own
// search instead. A box whose bundle does not load says so, on the page and in the console.
(() => {
    const box = document.getElementById('kmem-search');
    if (!box) {
        return;
    }
    // An absolute path: Pagefind import()s bundlePath + 'pagefind.js', and 'pagefind/pagefind.js' (the
    // English pages' relative path) would be a bare module specifier. Result links are made from the
    // site root one level up, so the site also works below a path (a GitHub project site).
    const bundle = new URL(box.dataset.bundle, window.location.href).pathname;
    const css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = bundle + 'pagefind-ui.css';
    const script = document.createElement('script');
    script.src = bundle + 'pagefind-ui.js';
    script.onload = () => {
        box.classList.add('kmem-search-ready');
        // eslint-disable-next-line no-undef
        new PagefindUI({
            element: '#kmem-search',
            bundlePath: bundle,
            baseUrl: new URL('..', new URL(bundle, window.location.href)).pathname,
            showSubResults: true,
            showImages: false,
            resetStyles: false,
            translations: { placeholder: box.dataset.placeholder },
        });
    };
    script.onerror = () => {
        const message = box.dataset.missing;
        box.classList.add('kmem-search-missing');
        box.textContent = message;
        console.error(`${message} (${script.src})`);
    };
    document.head.appendChild(css);
    document.head.appendChild(script);
})();
