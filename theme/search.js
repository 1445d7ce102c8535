// Mounts the Pagefind search UI (theme/header.hbs renders #kmem-search with the bundle's path). Pagefind
// picks the index of the page's <html lang>, so English pages search the English book and Chinese pages
// the Chinese one, with Chinese word segmentation. The bundle exists only in sites built by
// `cargo xtask build|serve`; elsewhere the box stays hidden.
(() => {
    const box = document.getElementById('kmem-search');
    if (!box) {
        return;
    }
    const bundle = box.dataset.bundle;
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
            showSubResults: true,
            showImages: false,
            resetStyles: false,
            translations: { placeholder: box.dataset.placeholder },
        });
    };
    script.onerror = () => box.remove();
    document.head.appendChild(css);
    document.head.appendChild(script);
})();
