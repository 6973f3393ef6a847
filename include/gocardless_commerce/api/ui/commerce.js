// Shared by the Commerce pages: authenticated calls to the REST API, safe DOM building,
// links into the Airflow UI, and how errors are shown.
//
// Authentication: none here on purpose. The API reads Airflow's HttpOnly `_token` cookie
// (set at login), which a same-origin fetch carries (see gocardless_commerce/api/pages.py).
// Safety: data is only ever put in the page as text (`el` and `svgEl` set textContent and
// attributes, never innerHTML); the server's Content-Security-Policy forbids inline scripts.

/** The API root, relative to the page (/commerce/ui/<page> → /commerce/api/v6/). */
export const API_ROOT = new URL("../api/v6/", document.baseURI);
/** The Airflow UI root (/commerce/ui/<page> → /): honours [api] base_url and proxies. */
export const AIRFLOW_ROOT = new URL("../../", document.baseURI);

/** An error answered by the API ({"error": {status, code, message}}) or by the network. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Call the API: `path` is relative to API_ROOT ("users", "users/u1/sync"); `query` an object
 *  of parameters (undefined/null/"" left out); `body` sent as JSON. Resolves to the parsed
 *  JSON (null for 204); rejects with an ApiError. */
export async function api(path, { method = "GET", query, body } = {}) {
  const url = new URL(path.replace(/^\//, ""), API_ROOT);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, "NETWORK_ERROR", `The API server could not be reached (${error.message})`);
  }
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    throw new ApiError(response.status, error.code || "ERROR", error.message || `${response.status} ${response.statusText}`);
  }
  return payload;
}

/** Every item of a paginated list (the API's pages of at most 1000). */
export async function apiAll(path, query = {}) {
  const items = [];
  for (let page = 1; ; page += 1) {
    const body = await api(path, { query: { ...query, page, per_page: 1000 } });
    items.push(...body.result);
    if (page >= body.last_page) return items;
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: props are properties (className, href, title, disabled, onclick…) or, for
 *  names with a dash (data-*, aria-*), attributes; children are nodes or text (as text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name.includes("-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  return append(node, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element: attrs are attributes; children are nodes or text (as text). */
export function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  return append(node, children);
}

/** A URL of the Airflow UI: airflowUrl("dags", dagId, "runs") → /dags/<dagId>/runs. */
export function airflowUrl(...segments) {
  return new URL(segments.map(encodeURIComponent).join("/"), AIRFLOW_ROOT).href;
}

/** Go to `url` in the whole window. Airflow frames plugin pages in a sandbox without
 *  allow-top-navigation, so from inside the frame the navigation is started by an anchor in
 *  the parent document (same origin); standalone, it is a plain navigation. */
export function leaveFrame(url) {
  let parentDocument = null;
  try {
    if (window.top !== window) parentDocument = window.top.document;
  } catch {
    parentDocument = null; // framed by another origin: navigate the frame itself
  }
  if (!parentDocument) {
    window.location.assign(url);
    return;
  }
  const anchor = parentDocument.createElement("a");
  anchor.href = url;
  anchor.hidden = true;
  parentDocument.body.append(anchor);
  anchor.click();
  anchor.remove();
}

/** A link that opens in the whole window (out of Airflow's frame); middle-click still works. */
export function topLink(text, url, props = {}) {
  return el("a", {
    ...props,
    href: url,
    onclick: (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      leaveFrame(url);
    },
  }, text);
}

/** Show an error in `where` (replacing what was there): a lapsed session links to the login. */
export function showError(where, error, doing = "") {
  const prefix = doing ? `${doing}: ` : "";
  const box = el("div", { className: "cc-message cc-error", role: "alert" }, `${prefix}${error.message}`);
  if (error.status === 401) {
    box.append(" ", topLink("Log in to Airflow again", AIRFLOW_ROOT.href));
  } else if (error.status === 403) {
    box.append(" (your Airflow role does not allow this)");
  }
  where.replaceChildren(box);
  return box;
}

/** The value `promise` resolves to, or null once its error is shown in `where` (`doing` says
 *  what failed: "The merchants could not be read"). */
export async function orShowError(where, doing, promise) {
  try {
    return await promise;
  } catch (error) {
    showError(where, error, doing);
    return null;
  }
}

/** Every merchant (user), or null once the error is shown in `where`. */
export function merchantsOrShowError(where) {
  return orShowError(where, "The merchants could not be read", apiAll("users"));
}

/** Show a short notice in `where` (replacing what was there). */
export function showNotice(where, text, kind = "info") {
  const box = el("div", { className: `cc-message cc-${kind}`, role: "status" }, text);
  where.replaceChildren(box);
  return box;
}

/** "12345.60" EUR → "€12,345.60" in the reader's locale (display only: the table keeps the
 *  exact text). */
export function formatMoney(money) {
  if (!money) return "–";
  const number = Number(money.value);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: money.currency }).format(number);
  } catch {
    return `${money.value} ${money.currency}`;
  }
}

/** An ISO timestamp in the reader's locale and zone; "–" when absent. */
export function formatDateTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A status as a coloured badge (the class says which family: ok, busy, error, idle). */
export function statusBadge(status) {
  const family = {
    CONNECTED: "ok", SUCCESS: "ok",
    QUEUED: "busy", FETCHING: "busy", CONNECTING: "busy", AUTH_REQUIRED: "idle",
    AUTH_ERROR: "error", FETCH_ERROR: "error", INTERNAL_ERROR: "error", DISCONNECTED: "idle",
  }[status] || "idle";
  return el("span", { className: `cc-badge cc-${family}`, "data-status": status }, status || "–");
}

/** A page's header: its title and links to the other Commerce pages: inside the Airflow UI,
 *  to their places in it (/plugin/commerce-<page>, so its navigation follows); on their own,
 *  to the pages themselves. */
export function pageHeader(title, current) {
  const pages = [["merchants", "Merchants"], ["insights", "Insights"], ["data-quality", "Data quality"]];
  const framed = window.top !== window;
  const link = (slug, name) => (framed ? topLink(name, airflowUrl("plugin", `commerce-${slug}`)) : el("a", { href: slug }, name));
  const links = pages.map(([slug, name]) =>
    slug === current ? el("span", { className: "cc-current", "aria-current": "page" }, name) : link(slug, name));
  return el("header", { className: "cc-header" }, el("h1", {}, title), el("nav", { "aria-label": "Commerce pages" }, links));
}
