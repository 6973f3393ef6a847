// The Data quality page: per merchant and run, every Great Expectations rule with its evaluated
// and failed counts over all chunks (GET …/data-quality/runs), the quarantined rows with their
// failed rules and reasons (GET …/data-quality/quarantine), and links to the offline Data Docs.
import { api, el, formatDateTime, merchantsOrShowError, orShowError, pageHeader, showNotice, topLink } from "./commerce.js";

const QUARANTINE_PER_PAGE = 50;
/** The Data Docs, served by the same server under /commerce/data-docs/ (behind the same login). */
const DATA_DOCS_ROOT = new URL("../data-docs/", document.baseURI);

const content = document.getElementById("content");
const messages = document.getElementById("messages");
const state = { user: null, runs: [], run: null, table: "", rule: "", page: 1 };

document.getElementById("header").replaceChildren(pageHeader("Data quality", "data-quality"));

function select(label, id, options, value, onchange) {
  const node = el("select", { id, onchange: (event) => onchange(event.target.value) },
    options.map(([optionValue, text]) => el("option", { value: optionValue, selected: optionValue === value }, text)));
  return el("label", {}, label, node);
}

/** A count cell; a failed count above zero stands out as an error badge. */
function number(value, failed = false) {
  return el("td", { className: "cc-number" }, failed && value ? el("span", { className: "cc-badge cc-error" }, value) : value);
}

function rulesTable(table) {
  const rows = table.rules.map((rule) => el("tr", { "data-rule": rule.rule, "data-failed": String(rule.failed) },
    el("td", {}, rule.rule), el("td", {}, rule.column || "–"), el("td", {}, rule.level),
    number(rule.evaluated), number(rule.failed, true), el("td", { className: "cc-small cc-muted" }, rule.description)));
  const passed = table.rules.length - table.failed_rules;
  return el("section", { className: "cc-table-rules", "data-table": table.table },
    el("h3", {}, `${table.table}: ${passed}/${table.rules.length} rules passed`),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "rule"), el("th", {}, "column"), el("th", {}, "level"),
      el("th", { className: "cc-number" }, "evaluated"), el("th", { className: "cc-number" }, "failed"),
      el("th", {}, "expectation"))), el("tbody", {}, rows)));
}

function runSection(run) {
  const docs = run.data_docs_url
    ? topLink("Data Docs of this run", new URL(`../${run.data_docs_url}`, document.baseURI).href, { id: "run-data-docs" })
    : el("span", { className: "cc-muted" }, "no Data Docs page for this run");
  return el("div", { id: "run-rules" },
    el("p", {}, `Run ${run.run_id} of data connection ${run.data_connection_id}, validated ${formatDateTime(run.validated_at)}. `,
      "Counts are summed over every chunk the run validated. ", docs, " · ",
      topLink("all runs' Data Docs", DATA_DOCS_ROOT.href)),
    run.tables.map(rulesTable));
}

async function showQuarantine(where) {
  const query = { page: state.page, per_page: QUARANTINE_PER_PAGE, table: state.table, rule: state.rule };
  const body = await api(`users/${encodeURIComponent(state.user)}/data-quality/quarantine`, { query });
  const failedRules = new Set(state.run ? state.run.tables.flatMap((t) => t.rules.filter((r) => r.failed && r.level === "row")
    .map((r) => r.rule)) : []);
  const tables = state.run ? state.run.tables.map((t) => [t.table, t.table]) : [];
  const toolbar = el("div", { className: "cc-toolbar" },
    select("Table", "quarantine-table", [["", "all tables"], ...tables], state.table, (value) => reload({ table: value })),
    select("Rule", "quarantine-rule", [["", "all rules"], ...[...failedRules].sort().map((r) => [r, r])], state.rule,
      (value) => reload({ rule: value })));
  const rows = body.result.map((row) => el("tr", { className: "cc-quarantined", "data-source-id": row.source_id },
    el("td", {}, row.source_table), el("td", {}, row.source_id),
    el("td", {}, el("ul", { className: "cc-rules" }, row.failed_rules.map((failed) =>
      el("li", {}, el("strong", {}, failed.rule), failed.reason ? el("span", { className: "cc-small cc-muted" }, ` ${failed.reason}`) : null)))),
    el("td", { className: "cc-small" }, row.last_run_id)));
  const pager = el("div", { className: "cc-actions" },
    el("button", { disabled: body.page <= 1, onclick: () => reload({ page: body.page - 1 }) }, "Previous"),
    el("span", { className: "cc-muted" }, `page ${body.page} of ${body.last_page} · ${body.total} row(s)`),
    el("button", { disabled: body.page >= body.last_page, onclick: () => reload({ page: body.page + 1 }) }, "Next"));
  where.replaceChildren(toolbar, body.total
    ? el("table", { id: "quarantine" }, el("thead", {}, el("tr", {}, el("th", {}, "table"), el("th", {}, "GoCardless id"),
      el("th", {}, "failed rules and why"), el("th", {}, "last quarantined by"))), el("tbody", {}, rows))
    : el("p", { className: "cc-muted" }, "No quarantined rows."), pager);
}

async function reload(changes) {
  Object.assign(state, { page: 1 }, changes);
  const where = document.getElementById("quarantine-section");
  await orShowError(where, "Reading the quarantine", showQuarantine(where));
}

async function showRuns() {
  const body = await api(`users/${encodeURIComponent(state.user)}/data-quality/runs`, { query: { per_page: 50 } });
  state.runs = body.result;
  state.run = state.runs[0] || null;
  render();
}

function render() {
  const runPicker = state.runs.length
    ? select("Run", "run", state.runs.map((run) => [run.run_id, `${formatDateTime(run.validated_at)} · ${run.run_id}`]),
      state.run.run_id, (value) => { state.run = state.runs.find((run) => run.run_id === value); render(); })
    : null;
  content.replaceChildren(
    el("div", { className: "cc-toolbar" }, select("Merchant", "merchant", state.users, state.user, choose), runPicker),
    el("h2", {}, "Rules"),
    state.run ? runSection(state.run) : el("p", { className: "cc-muted" }, "No validated run yet for this merchant."),
    el("h2", {}, "Quarantined rows"),
    el("div", { id: "quarantine-section" }, el("p", { className: "cc-muted" }, "Loading…")));
  reload({});
}

async function choose(user) {
  Object.assign(state, { user, table: "", rule: "" });
  await orShowError(messages, "Reading the runs", showRuns());
}

async function start() {
  const users = await merchantsOrShowError(content);
  if (!users) return;
  if (!users.length) {
    showNotice(content, "No merchant yet: add one on the Merchants page.");
    return;
  }
  state.users = users.map((user) => [user.id, `${user.name} (${user.id})`]);
  const wanted = new URLSearchParams(window.location.search).get("user");
  await choose(users.some((user) => user.id === wanted) ? wanted : users[0].id);
}

start();
