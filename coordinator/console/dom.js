// Small DOM helpers. Everything from the API becomes a text node or an
// attribute value set through the DOM: nothing is ever parsed as HTML.

/**
 * h('td', { class: 'num', title: 'x' }, 'text', otherNode, null)
 * Attribute values are set with setAttribute (or as listeners for `on*`);
 * children that are strings or numbers become text nodes; null/false are skipped.
 */
/**
 * @typedef {Node | string | number | boolean | null | undefined | readonly unknown[]} Child a node, text, nothing (skipped), or a list of them
 *
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name === 'dataset') Object.assign(el.dataset, /** @type {Record<string, string>} */ (value));
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {readonly unknown[]} children */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/**
 * Replaces the children of `el`.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * The first element matching `selector` (one of the page's own elements, so
 * taken as present); the caller states its type with a JSDoc cast when it
 * is more than an HTMLElement (an input, a dialog…).
 * @template {Element} [E=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {E}
 */
export const $ = (selector, root = document) => /** @type {E} */ (root.querySelector(selector));

/** @param {HTMLElement} el @param {boolean} [visible] */
export function show(el, visible = true) {
  el.hidden = !visible;
}

/**
 * "3 min ago" / "in 5 s" for an ISO time, or '—'.
 * @param {string | null | undefined} iso
 * @param {number} [now]
 */
export function relative(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const [n, unit] =
    abs < 1_000
      ? [0, 's']
      : abs < 60_000
        ? [Math.round(abs / 1_000), 's']
        : abs < 3_600_000
          ? [Math.round(abs / 60_000), 'min']
          : abs < 86_400_000
            ? [Math.round(abs / 3_600_000), 'h']
            : [Math.round(abs / 86_400_000), 'd'];
  if (n === 0) return 'now';
  return ms < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

/**
 * "2024-05-01 12:03:04.123 UTC" for an ISO time, or '—'.
 * @param {string | null | undefined} iso
 */
export function absolute(iso) {
  if (!iso) return '—';
  return `${iso.replace('T', ' ').replace('Z', '')} UTC`;
}

/**
 * A <time> showing the relative age, with the exact time as its tooltip.
 * @param {string | null | undefined} iso
 */
export function timeEl(iso) {
  return h('time', { datetime: iso ?? undefined, title: iso ? absolute(iso) : undefined }, relative(iso));
}

/** @param {string} text @param {string} [kind] */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}
