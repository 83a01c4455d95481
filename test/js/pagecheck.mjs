// pagecheck.mjs: layout and translation checks of the web page, run in
// the page by korean.mjs before each screenshot.
//
// checkLayout(page, lang) returns
//   {scrollWidth, innerWidth, overflow,   the page scrolls sideways when
//                                        scrollWidth > innerWidth
//    offscreen: [...],                   visible controls not wholly in view
//    covered: [...],                     main controls hidden or drawn over
//    untranslated: [...],                visible strings not from the
//                                        catalogue of lang
//    pageLang}                           <html lang> at the time
//
// "Translated" means: every visible text node outside translate="no"
// elements (which hold what users wrote), and every placeholder, title
// and aria-label of a visible element, is a string of i18n.js's catalogue
// for lang (its {params} filled with anything), a piece of one between
// params, or only digits, punctuation and symbols. Times are left out:
// Intl formats them in the page language. So an English catalogue string
// in Korean mode, or a string written in app.js without the catalogue,
// fails, as does a catalogue key missing in a language or left in English.

export async function checkLayout(page, lang) {
  // the language change re-renders synchronously; let layout settle a frame
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate((lang) => {
    const catalog = window.chatrelayI18n.catalog[lang];
    const values = Object.values(catalog);
    const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const patterns = values.map((v) => new RegExp("^" + v.split(/\{\w+\}/).map(esc).join("[\\s\\S]*?") + "$"));
    const pieces = new Set(values.flatMap((v) => v.split(/\{\w+\}/).map((s) => s.trim()).filter(Boolean)));
    const neutral = /^[\d\s\p{P}\p{S}]*$/u;
    const ok = (s) => {
      const x = s.trim();
      return neutral.test(x) || pieces.has(x) || patterns.some((r) => r.test(x));
    };
    const visible = (e) => {
      const r = e.getBoundingClientRect();
      const st = getComputedStyle(e);
      return r.width > 0 && r.height > 0 && st.visibility !== "hidden" && st.display !== "none" && !e.closest("[hidden]");
    };
    const untranslated = [];
    // the catalogue itself: every English key has its own text in lang
    const en = window.chatrelayI18n.catalog.en;
    for (const k of new Set([...Object.keys(en), ...Object.keys(catalog)])) {
      if (!(k in catalog) || !(k in en) || (lang !== "en" && catalog[k] === en[k])) untranslated.push(`catalogue key ${k}`);
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const e = n.parentElement;
      if (!e || !n.textContent.trim() || e.closest('[translate="no"], time') || !visible(e)) continue;
      if (!ok(n.textContent)) untranslated.push(n.textContent.trim().slice(0, 100));
    }
    for (const e of document.querySelectorAll("[placeholder], [title], [aria-label]")) {
      if (!visible(e)) continue;
      for (const attr of ["placeholder", "title", "aria-label"]) {
        const v = e.getAttribute(attr);
        if (v && !ok(v)) untranslated.push(`${e.id || e.tagName.toLowerCase()}[${attr}]=${v.slice(0, 100)}`);
      }
    }
    const offscreen = [...document.querySelectorAll("button, input, select, textarea, #status")]
      .filter(visible)
      .filter((e) => {
        const r = e.getBoundingClientRect();
        return r.left < -0.5 || r.right > innerWidth + 0.5;
      })
      .map((e) => e.id || e.className || e.tagName);
    // a control drawn over by another element (a panel overlapping the
    // send form) cannot be used: check the point at its centre
    const covered = [];
    for (const id of ["connect", "disconnect", "lang", "create-room", "message-input", "send", "dm-to", "dm-text", "dm-send"]) {
      const e = document.getElementById(id);
      if (!e || !visible(e)) {
        covered.push(`${id} (not visible)`);
        continue;
      }
      e.scrollIntoView({ block: "center", inline: "center" });
      const r = e.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      if (!e.contains(hit)) covered.push(`${id} (under ${hit ? hit.id || hit.className || hit.tagName : "nothing"})`);
    }
    window.scrollTo(0, 0);
    const se = document.scrollingElement;
    return {
      covered,
      pageLang: document.documentElement.lang,
      scrollWidth: se.scrollWidth,
      innerWidth,
      overflow: se.scrollWidth > innerWidth,
      offscreen,
      untranslated,
    };
  }, lang);
}
