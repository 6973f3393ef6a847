// The Merchants page: each user (merchant), its GoCardless data connection and its last sync,
// with the actions a person takes on them: add a merchant, connect it (GoCardless OAuth),
// sync it, and open its DAG and runs in the Airflow UI.
import {
  ApiError, airflowUrl, api, el, formatDateTime, leaveFrame, merchantsOrShowError, pageHeader, showError,
  showNotice, statusBadge, topLink,
} from "./commerce.js";

const BUSY_SYNC = new Set(["QUEUED", "FETCHING"]);
/** A connection in these states is connected (again) by a new OAuth state (PATCH), not a new connection. */
const RECONNECTABLE = new Set(["AUTH_REQUIRED", "AUTH_ERROR", "CONNECTING"]);
const REFRESH_MS = 4000;

const messages = document.getElementById("messages");
const content = document.getElementById("content");
let refreshTimer = null;

document.getElementById("header").replaceChildren(pageHeader("Merchants", "merchants"));

/** The connection to show: the live one (not DISCONNECTED), else the most recent. */
function shownConnection(user) {
  const connections = user.data_connections || [];
  return connections.find((c) => c.status !== "DISCONNECTED") || connections[connections.length - 1] || null;
}

async function latestSync(user, connection) {
  if (!connection || !connection.dag_id) return null;
  try {
    return await api(`users/${encodeURIComponent(user.id)}/sync/latest`);
  } catch (error) {
    if (error.status === 404) return null; // no sync yet
    throw error;
  }
}

/** Start the OAuth flow: a new data connection, or a new state for one waiting to connect;
 *  then the whole window goes to the consent page (GoCardless sends it back to the callback,
 *  which brings the person back here). */
async function connect(user, connection, messageBox) {
  const base = `users/${encodeURIComponent(user.id)}/data-connections`;
  const answer = connection && RECONNECTABLE.has(connection.status)
    ? await api(`${base}/${encodeURIComponent(connection.id)}`, { method: "PATCH", body: { status: "AUTH_REQUIRED" } })
    : await api(base, { method: "POST", body: { provider_name: "gocardless" } });
  if (!answer.redirect_url) throw new ApiError(0, "NO_REDIRECT", "The API gave no consent page to go to");
  showNotice(messageBox(), "Opening the GoCardless consent page…");
  leaveFrame(answer.redirect_url);
}

async function sync(user, messageBox) {
  try {
    const run = await api(`users/${encodeURIComponent(user.id)}/sync`, { method: "POST", body: {} });
    showNotice(messageBox(), `Sync ${run.status.toLowerCase()}: run ${run.id}`, "ok");
    scheduleRefresh(0);
  } catch (error) {
    if (error.status === 409) {
      const box = showError(messageBox(), error, "Not started (409)");
      box.dataset.code = error.code;
    } else {
      showError(messageBox(), error, "Sync failed to start");
    }
  }
}

/** The message box of `userId`'s row as the page shows it now (else `fallback`): a refresh may
 *  replace the row while an answer is on its way, and one written into the old box is never seen. */
function rowMessageOf(userId, fallback) {
  for (const row of tableHolder.querySelectorAll("tr[data-user-id]")) {
    if (row.dataset.userId === userId) return row.querySelector(".cc-row-message");
  }
  return fallback;
}

/** A button that runs `action` once at a time and reports its failure in `messageBox()`. */
function actionButton(label, messageBox, action, props = {}) {
  const button = el("button", { type: "button", ...props }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      showError(messageBox(), error, label);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function syncCell(run) {
  if (!run) return el("td", { "data-field": "sync" }, el("span", { className: "cc-muted" }, "never synced"));
  if (run.unreadable) {
    return el("td", { "data-field": "sync" }, el("span", { className: "cc-error cc-small" },
      `could not be read: ${run.unreadable.message}`));
  }
  const when = run.finished_at || run.started_at || run.created_at;
  const counts = run.counts
    ? `${run.counts.records_landed} records landed, ${run.counts.records_changed} changed` +
      (run.counts.records_quarantined ? `, ${run.counts.records_quarantined} quarantined` : "")
    : null;
  return el("td", { "data-field": "sync" },
    statusBadge(run.status), " ", el("span", { className: "cc-small" }, formatDateTime(when)),
    counts && el("div", { className: "cc-small cc-muted" }, counts),
    run.failed_tasks.length > 0 && el("div", { className: "cc-small cc-muted" }, `failed: ${run.failed_tasks.join(", ")}`));
}

function merchantRow(user, connection, run) {
  const rowMessage = el("div", { className: "cc-row-message" });
  const messageBox = () => rowMessageOf(user.id, rowMessage);
  const actions = el("div", { className: "cc-actions" });
  if (!connection || connection.status !== "CONNECTED") {
    const label = connection && connection.status !== "DISCONNECTED" ? "Reconnect" : "Connect";
    actions.append(actionButton(label, messageBox, () => connect(user, connection, messageBox),
      { className: "cc-primary", "data-action": "connect" }));
  } else {
    const busy = Boolean(run && BUSY_SYNC.has(run.status));
    actions.append(actionButton("Sync", messageBox, () => sync(user, messageBox),
      { "data-action": "sync", title: busy ? "A sync is running: a new one would be refused (409)" : "Start a sync now" }));
  }
  const dagId = connection && connection.dag_id;
  const airflowLinks = dagId
    ? el("div", { className: "cc-actions cc-small" },
      topLink("DAG", airflowUrl("dags", dagId), { "data-link": "dag" }),
      topLink("Runs", airflowUrl("dags", dagId, "runs"), { "data-link": "runs" }),
      run && run.id && topLink("Last run", airflowUrl("dags", dagId, "runs", run.id), { "data-link": "last-run" }))
    : el("span", { className: "cc-muted cc-small" }, "no DAG until connected");
  return el("tr", { "data-user-id": user.id },
    el("td", {}, el("div", { "data-field": "name" }, user.name), el("div", { className: "cc-small cc-muted" }, user.id)),
    el("td", { "data-field": "connection" },
      connection ? statusBadge(connection.status) : el("span", { className: "cc-muted" }, "not connected"),
      connection && connection.status_reason && el("div", { className: "cc-small cc-muted" }, connection.status_reason),
      connection && connection.organisation_id && el("div", { className: "cc-small cc-muted" }, connection.organisation_id)),
    syncCell(run),
    el("td", {}, actions, rowMessage),
    el("td", {}, airflowLinks));
}

function addMerchantForm() {
  const name = el("input", { name: "name", required: true, maxLength: 200, placeholder: "Acme Ltd" });
  const id = el("input", { name: "id", maxLength: 200, pattern: "[A-Za-z0-9_.\\-]+", placeholder: "acme (optional)" });
  const country = el("input", { name: "country", maxLength: 2, pattern: "[A-Z]{2}", placeholder: "FR", size: 3 });
  const formMessage = el("div");
  const form = el("form", { className: "cc-toolbar", "aria-label": "Add a merchant" },
    el("label", {}, "Name", name), el("label", {}, "Id", id), el("label", {}, "Country", country),
    el("button", { type: "submit", "data-action": "add-merchant" }, "Add merchant"), formMessage);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value };
    if (id.value) body.id = id.value;
    if (country.value) body.country = country.value;
    try {
      const user = await api("users/legal", { method: "POST", body });
      showNotice(formMessage, `Added ${user.name}: connect it to GoCardless below.`, "ok");
      form.reset();
      await refresh();
    } catch (error) {
      showError(formMessage, error, "Not added");
    }
  });
  return form;
}

const form = addMerchantForm();
const tableHolder = el("div");

async function refresh() {
  clearTimeout(refreshTimer);
  const users = await merchantsOrShowError(messages);
  if (users === null) return;
  const shown = users.map((user) => ({ user, connection: shownConnection(user) }));
  const syncs = await Promise.all(shown.map(({ user, connection }) =>
    latestSync(user, connection).catch((error) => ({ unreadable: error }))));
  const keptMessages = new Map(); // row messages survive a refresh (an error must stay readable)
  for (const row of tableHolder.querySelectorAll("tr[data-user-id]")) {
    const message = row.querySelector(".cc-row-message");
    if (message && message.childNodes.length) keptMessages.set(row.dataset.userId, message);
  }
  const rows = shown.map(({ user, connection }, index) => {
    const row = merchantRow(user, connection, syncs[index]);
    const kept = keptMessages.get(user.id);
    // the new row's buttons write into its own message box: move the old box's content there
    if (kept) row.querySelector(".cc-row-message").replaceChildren(...kept.childNodes);
    return row;
  });
  const table = users.length
    ? el("table", { id: "merchants" },
      el("thead", {}, el("tr", {}, ["Merchant", "GoCardless connection", "Last sync", "Actions", "Airflow"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows))
    : el("p", { className: "cc-muted" }, "No merchant yet: add one above, then connect it.");
  tableHolder.replaceChildren(table);
  messages.replaceChildren();
  const busy = shown.some(({ connection }, i) => (connection && connection.status === "CONNECTING") ||
    (syncs[i] && (syncs[i].unreadable || BUSY_SYNC.has(syncs[i].status))));
  if (busy) scheduleRefresh(REFRESH_MS);
}

function scheduleRefresh(delay) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, delay);
}

content.replaceChildren(el("h2", {}, "Add a merchant"), form, el("h2", {}, "Merchants"), tableHolder);
refresh();
