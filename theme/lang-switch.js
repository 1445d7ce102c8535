// Keep the reader on the same page when switching language: English is at the site root, Simplified
// Chinese under zh-CN/. The header partial (theme/header.hbs) renders links to the other language's
// front page; here they are pointed at the current page instead.
(() => {
    const nav = document.querySelector('.kmem-lang-switch');
    if (!nav) {
        return;
    }
    const source = nav.dataset.path || 'index.md';
    const page = source.replace(/\.md$/, '.html');
    for (const link of nav.querySelectorAll('a.kmem-lang')) {
        // path_to_root of the other language, as the partial rendered it.
        const root = link.getAttribute('href').replace(/index\.html$/, '');
        link.setAttribute('href', root + page + window.location.hash);
        link.addEventListener('click', () => {
            link.setAttribute('href', root + page + window.location.hash);
        });
    }
})();
