// What a citizen page really renders, measured from computed styles and layout boxes.
// Loaded by e2e/test_elder_mode.py and handed to page.evaluate() as a function expression:
// the pages themselves never carry it (no inline script under the Content-Security-Policy).
//
// Returns figures and lists of offenders; the test decides what is acceptable:
// - minFont: the smallest font size of any visible text in the header, the page and the footer;
// - h1Font, catalogueTitleFont: the main heading and the smallest programme title on a list;
// - small: tap targets (links, buttons, fields, a box through its label) under `target` px;
// - lowContrast: text under 4.5:1 against the background it sits on (the elder toggle included);
// - toggleContrast: the elder switch's own ratio;
// - squeezedTitles: titles wrapped onto more lines than their text needs at the width available;
// - labelsBelow: checkbox or radio labels whose text starts below the box instead of beside it;
// - smallBoxes: visible checkboxes and radios smaller than 32 px;
// - overflowX: how far the page scrolls sideways (0 when it fits the screen).
(target) => {
  const px = (v) => parseFloat(v) || 0;
  const hiddenAncestor = (el) => el.closest(".visually-hidden, .visually-hidden-focusable:not(:focus), [hidden], [aria-hidden='true']");
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== "hidden" && s.display !== "none" && !hiddenAncestor(el);
  };
  const rgba = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  // The colour behind an element: the first ancestor with an opaque enough background.
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const contrast = (el) => {
    const a = lum(rgba(getComputedStyle(el).color).slice(0, 3));
    const b = lum(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const describe = (el) => {
    const name = el.id ? "#" + el.id : el.tagName.toLowerCase() + [...el.classList].map((c) => "." + c).join("");
    return name + ' "' + (el.innerText || el.value || "").trim().replace(/\s+/g, " ").slice(0, 24) + '"';
  };
  const labelOf = (box) => box.closest("label") || (box.id && document.querySelector('label[for="' + box.id + '"]'));
  const regions = [...document.querySelectorAll("header, main, footer")];

  // Every visible text node, judged by the element that holds it.
  const textHolders = new Set();
  for (const region of regions) {
    const walker = document.createTreeWalker(region, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || !el || el.closest("script, style, option, noscript")) continue;
      if (visible(el)) textHolders.add(el);
    }
  }
  let minFont = Infinity;
  const tinyText = [], lowContrast = [];
  for (const el of textHolders) {
    const size = px(getComputedStyle(el).fontSize);
    minFont = Math.min(minFont, size);
    if (size < 18) tinyText.push(describe(el) + " " + size + "px");
    const c = contrast(el);
    if (c < 4.5) lowContrast.push(describe(el) + " " + c.toFixed(2));
  }

  // Tap targets: a checkbox or radio is tapped through its label.
  const small = [];
  const targets = [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, summary")]
    .map((el) => (el.matches("input[type=checkbox], input[type=radio]") ? labelOf(el) || el : el))
    .filter(visible);
  for (const el of new Set(targets)) {
    const r = el.getBoundingClientRect();
    if (r.width < target - 0.5 || r.height < target - 0.5) small.push(describe(el) + " " + Math.round(r.width) + "x" + Math.round(r.height));
  }

  // Titles: wrapped onto more lines than the text needs at the width its container offers.
  const canvas = document.createElement("canvas").getContext("2d");
  const squeezedTitles = [];
  const titles = [...document.querySelectorAll("main .programme-name, main .card-title, main .home-actions .btn > .fw-bold, main .programme-link > .fw-bold, main .form-check-label > strong, main .card h2")]
    .filter(visible);
  for (const el of titles) {
    const s = getComputedStyle(el);
    canvas.font = s.fontWeight + " " + s.fontSize + " " + s.fontFamily;
    const natural = canvas.measureText(el.innerText.trim()).width;
    const box = el.parentElement.getBoundingClientRect();
    const ps = getComputedStyle(el.parentElement);
    const room = box.width - px(ps.paddingLeft) - px(ps.paddingRight) - px(ps.borderLeftWidth) - px(ps.borderRightWidth);
    const lineHeight = s.lineHeight === "normal" ? 1.2 * px(s.fontSize) : px(s.lineHeight);
    const lines = Math.round(el.getBoundingClientRect().height / lineHeight);
    const needed = Math.max(1, Math.ceil((natural - 1) / room));
    if (lines > needed) squeezedTitles.push(describe(el) + " " + lines + " lines, needs " + needed);
  }

  // Checkboxes and radios: at least 32 px, the label's text beside the box, not under it.
  const labelsBelow = [], smallBoxes = [];
  for (const box of document.querySelectorAll("main input[type=checkbox], main input[type=radio]")) {
    if (!visible(box) || box.matches(".btn-check")) continue;
    const b = box.getBoundingClientRect();
    if (b.width < 32 - 0.5 || b.height < 32 - 0.5) smallBoxes.push(describe(box) + " " + Math.round(b.width) + "x" + Math.round(b.height));
    const label = labelOf(box);
    if (!label) continue;
    const range = document.createRange();
    const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    let first = null;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) if (n.textContent.trim()) { first = n; break; }
    if (!first) continue;
    range.selectNodeContents(first);
    const line = range.getClientRects()[0];
    if (line && (line.top >= b.bottom - 1 || line.left < b.right - 1)) labelsBelow.push(describe(label));
  }

  const toggle = document.getElementById("elder-switch");
  const catalogueTitles = [...document.querySelectorAll("main .programme-name, main .programme-link > .fw-bold")].filter(visible);
  const h1 = document.querySelector("main h1");
  return {
    elder: document.body.classList.contains("elder"),
    hasToggle: !!(toggle && visible(toggle)),
    hasHomeLink: [...document.querySelectorAll("header a[href]")].some((a) => new URL(a.href).pathname === "/" && visible(a)),
    hasReadAloud: !!document.getElementById("read-aloud"),
    minFont: minFont === Infinity ? 0 : minFont,
    bodyFont: px(getComputedStyle(document.body).fontSize),
    h1Font: h1 ? px(getComputedStyle(h1).fontSize) : 0,
    catalogueTitleFont: catalogueTitles.length ? Math.min(...catalogueTitles.map((el) => px(getComputedStyle(el).fontSize))) : null,
    toggleContrast: toggle ? contrast(toggle) : 0,
    tinyText, lowContrast, small, squeezedTitles, labelsBelow, smallBoxes,
    overflowX: Math.max(0, document.documentElement.scrollWidth - window.innerWidth),
    height: document.documentElement.scrollHeight,
  };
}
