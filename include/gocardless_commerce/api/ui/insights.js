// The Insights page: for one merchant and currency, its months as charts (payments, payouts,
// MRR, MRR movements) and then as a table, from the insight endpoints. The current month is
// partial (month to date, `is_partial_month` in the API): drawn faded and labelled, never read
// as a fall.
import { apiAll, el, formatMoney, merchantsOrShowError, orShowError, pageHeader, showNotice } from "./commerce.js";
import { monthlyBarChart } from "./charts.js";

const messages = document.getElementById("messages");
const content = document.getElementById("content");
document.getElementById("header").replaceChildren(pageHeader("Insights", "insights"));

const merchantSelect = el("select", { name: "merchant", "aria-label": "Merchant" });
const currencySelect = el("select", { name: "currency", "aria-label": "Currency" });
const charts = el("section", { className: "cc-charts", "aria-label": "Charts" });
const table = el("section", { "aria-label": "Months" });
let current = { transactions: [], subscriptions: [] };

/** One row per month of this currency: the transaction and subscription insights side by side. */
function monthsOf(currency) {
  const byMonth = new Map();
  for (const row of current.transactions) if (row.currency === currency) byMonth.set(row.month, { month: row.month, t: row });
  for (const row of current.subscriptions) {
    if (row.currency !== currency) continue;
    byMonth.set(row.month, { month: row.month, ...byMonth.get(row.month), s: row });
  }
  return [...byMonth.values()].sort((a, b) => a.month.localeCompare(b.month)).map((m) => ({
    ...m, partial: Boolean((m.t && m.t.is_partial_month) || (m.s && m.s.is_partial_month)),
  }));
}

const amount = (money) => (money ? Number(money.value) : 0);

function drawCharts(currency, months) {
  const labels = months.map((m) => m.month);
  const partial = months.map((m) => m.partial);
  const format = (value) => formatMoney({ value: String(value), currency });
  const chart = (id, title, series) => monthlyBarChart({ id, title: `${title} (${currency})`, months: labels, partial, series, format });
  const values = (pick) => months.map((m) => pick(m));
  charts.replaceChildren(
    chart("payments", "Payments per month", [{ name: "payments", tone: 1, values: values((m) => amount(m.t && m.t.payments)) }]),
    chart("payouts", "Payouts per month", [{ name: "payouts", tone: 6, values: values((m) => amount(m.t && m.t.payouts)) }]),
    chart("mrr", "MRR at month end", [{ name: "MRR", tone: 5, values: values((m) => amount(m.s && m.s.mrr)) }]),
    chart("mrr-movements", "MRR movements", [
      { name: "new", tone: 3, values: values((m) => amount(m.s && m.s.new_mrr)) },
      { name: "expansion", tone: 1, values: values((m) => amount(m.s && m.s.expansion_mrr)) },
      { name: "reactivation", tone: 6, values: values((m) => amount(m.s && m.s.reactivation_mrr)) },
      { name: "contraction", tone: 2, values: values((m) => -amount(m.s && m.s.contraction_mrr)) },
      { name: "churn", tone: 4, values: values((m) => -amount(m.s && m.s.churned_mrr)) },
    ]),
  );
}

const COLUMNS = [
  ["Payments", (m) => m.t && m.t.payments], ["Nb", (m) => m.t && m.t.payments_nb],
  ["Payouts", (m) => m.t && m.t.payouts], ["Refunds", (m) => m.t && m.t.refunds], ["Fees", (m) => m.t && m.t.fees],
  ["Net", (m) => m.t && m.t.net], ["MRR", (m) => m.s && m.s.mrr], ["New", (m) => m.s && m.s.new_mrr],
  ["Expansion", (m) => m.s && m.s.expansion_mrr], ["Contraction", (m) => m.s && m.s.contraction_mrr],
  ["Churn", (m) => m.s && m.s.churned_mrr], ["Reactivation", (m) => m.s && m.s.reactivation_mrr],
  ["Subscriptions", (m) => m.s && m.s.subscription_nb], ["Customers", (m) => m.s && m.s.customers_nb],
];

/** The exact figures, newest month first: Money as its exact decimal text. */
function drawTable(months) {
  const cell = (value) => el("td", { className: "cc-number" },
    value === undefined || value === null ? "–" : typeof value === "object" ? value.value : String(value));
  const rows = [...months].reverse().map((m) => el("tr", { className: m.partial ? "cc-partial" : "", "data-month": m.month },
    el("td", {}, m.month.slice(0, 7), m.partial ? " (partial: to date)" : ""),
    COLUMNS.map(([, pick]) => cell(pick(m)))));
  table.replaceChildren(el("h2", {}, "Months"), el("table", { id: "insights-table" },
    el("thead", {}, el("tr", {}, el("th", {}, "Month"), COLUMNS.map(([name]) => el("th", { className: "cc-number" }, name)))),
    el("tbody", {}, rows)));
}

function show() {
  const currency = currencySelect.value;
  const months = monthsOf(currency);
  if (!months.length) {
    charts.replaceChildren();
    table.replaceChildren();
    showNotice(messages, "No insights for this merchant yet: they appear after its first successful sync.");
    return;
  }
  messages.replaceChildren();
  drawCharts(currency, months);
  drawTable(months);
}

async function loadMerchant() {
  const userId = merchantSelect.value;
  if (!userId) return;
  const path = (name) => `users/${encodeURIComponent(userId)}/${name}`;
  const read = await orShowError(messages, "The insights could not be read", Promise.all([
    apiAll(path("commerce-transactions-insights")), apiAll(path("commerce-subscriptions-insights"))]));
  if (read === null) return;
  current = { transactions: read[0], subscriptions: read[1] };
  // The currencies, the one with the most payments first.
  const totals = new Map();
  for (const row of [...current.transactions, ...current.subscriptions]) totals.set(row.currency, totals.get(row.currency) || 0);
  for (const row of current.transactions) totals.set(row.currency, totals.get(row.currency) + row.payments_nb);
  const currencies = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || a.localeCompare(b));
  const kept = currencies.includes(currencySelect.value) ? currencySelect.value : currencies[0];
  currencySelect.replaceChildren(...currencies.map((c) => el("option", { value: c }, c)));
  if (kept) currencySelect.value = kept;
  history.replaceState(null, "", `?merchant=${encodeURIComponent(userId)}`);
  show();
}

async function start() {
  const users = await merchantsOrShowError(messages);
  if (users === null) return;
  if (!users.length) {
    showNotice(messages, "No merchant yet: add and connect one on the Merchants page.");
    return;
  }
  merchantSelect.replaceChildren(...users.map((u) => el("option", { value: u.id }, `${u.name} (${u.id})`)));
  const asked = new URLSearchParams(window.location.search).get("merchant");
  if (users.some((u) => u.id === asked)) merchantSelect.value = asked;
  merchantSelect.addEventListener("change", loadMerchant);
  currencySelect.addEventListener("change", show);
  await loadMerchant();
}

content.replaceChildren(
  el("div", { className: "cc-toolbar" }, el("label", {}, "Merchant", merchantSelect), el("label", {}, "Currency", currencySelect)),
  charts, table);
start();
