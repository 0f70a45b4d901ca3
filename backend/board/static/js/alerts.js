// The open alerts: what happened, how far the escalation has climbed, whom it called, and the
// countdown to the next tier; with the actions a coordinator (or the palliative unit) takes.

import { ask } from "./dialog.js";
import { byId, h, render } from "./dom.js";
import { formatTime, t, word } from "./i18n.js";

const SEVERITY_RANK = { critical: 0, high: 1, normal: 2 };
// Shape and word as well as colour: the severity reads on a monochrome screen too.
const SEVERITY_ICON = { critical: "▲▲", high: "▲", normal: "●" };
const TAKEN = new Set(["acknowledged", "on_the_way", "at_bedside"]);
const REASONS = [
  "pain",
  "breathlessness",
  "restlessness",
  "nausea",
  "bleeding",
  "fall",
  "carer_exhaustion",
  "medicine_missing",
  "death",
  "other",
];
const OUTCOMES = ["managed_at_home", "palliative_stay", "admitted_to_hospital", "died_at_home", "false_alarm"];
const DECISIONS = ["advice_by_phone", "outreach_visit", "palliative_stay", "hospital"];

function byUrgency(a, b) {
  const openA = a.alert.status === "open" ? 0 : 1;
  const openB = b.alert.status === "open" ? 0 : 1;
  return (
    openA - openB ||
    SEVERITY_RANK[a.alert.severity] - SEVERITY_RANK[b.alert.severity] ||
    a.alert.raised_at.localeCompare(b.alert.raised_at)
  );
}

export function renderAlerts(board) {
  const entries = [...board.state.alerts.values()];
  const open = entries.filter((e) => e.alert.status !== "resolved").sort(byUrgency);
  const resolved = entries
    .filter((e) => e.alert.status === "resolved")
    .sort((a, b) => (b.alert.resolved_at || "").localeCompare(a.alert.resolved_at || ""));
  byId("alert-count").textContent = open.length ? String(open.length) : "";
  render(byId("alert-list"), open.length ? open.map((e) => alertCard(board, e)) : h("p", { class: "empty" }, t("alerts.none")));
  byId("resolved-summary").textContent = t("alerts.resolved", { n: resolved.length });
  render(byId("resolved-list"), resolved.map((e) => alertCard(board, e)));
  tickAlerts(board);
}

function alertCard(board, entry) {
  const { alert } = entry;
  const person = board.caseLabel(alert.case_id);
  return h(
    "article",
    {
      class: `alert sev-${alert.severity} status-${alert.status}`,
      dataset: { alertId: alert.id, status: alert.status },
      "aria-label": `${word("severity", alert.severity)}: ${word("reason", alert.reason)}, ${person.name}`,
    },
    h(
      "div",
      { class: "alert-head" },
      h(
        "span",
        { class: "sev-badge" },
        h("span", { class: "sev-icon", "aria-hidden": "true" }, SEVERITY_ICON[alert.severity]),
        word("severity", alert.severity),
      ),
      h("h3", { class: "alert-reason" }, word("reason", alert.reason)),
      h("span", { class: "alert-status" }, word("status", alert.status)),
    ),
    h(
      "p",
      { class: "alert-who" },
      h("strong", {}, person.name),
      person.cpr ? h("span", { class: "muted" }, ` · ${person.cpr}`) : null,
      ` · ${board.districtName(alert.district_id)}`,
    ),
    escalation(board, alert),
    h("p", { class: "alert-meta" }, meta(board, alert)),
    alert.note ? h("p", { class: "alert-note" }, `${t("alert.note")}: ${alert.note}`) : null,
    called(board, entry),
    h("div", { class: "actions" }, actions(board, alert)),
  );
}

/** The tier and the countdown, or who has the alert, or how it ended. */
function escalation(board, alert) {
  const name = (id) => board.staffName(id);
  if (alert.status === "resolved") {
    const outcome = alert.outcome ? word("outcome", alert.outcome) : "";
    return h(
      "div",
      { class: "alert-clock" },
      h("p", { class: "taken" }, t("alert.resolvedBy", { time: formatTime(alert.resolved_at), outcome })),
      alert.unit_decision
        ? h("p", {}, t("alert.unitDecision", { decision: word("decision", alert.unit_decision) }))
        : null,
    );
  }
  if (TAKEN.has(alert.status)) {
    const key = { acknowledged: "alert.acknowledgedBy", on_the_way: "alert.onTheWayBy", at_bedside: "alert.atBedsideBy" };
    const at = { acknowledged: alert.acknowledged_at, on_the_way: alert.on_the_way_at, at_bedside: alert.at_bedside_at };
    const text = t(key[alert.status], { name: name(alert.acknowledged_by), time: formatTime(at[alert.status]) });
    return h("div", { class: "alert-clock" }, h("p", { class: "taken" }, "✓ ", text), progressClock(alert));
  }
  const tier =
    alert.tier < 0
      ? t("alert.notStarted")
      : t("alert.tier", { tier: alert.tier + 1, count: alert.tier_count });
  let clock;
  if (alert.paging_stopped_reason) {
    clock = h("p", { class: "stopped" }, t("alert.pagingStopped", { reason: word("stopped", alert.paging_stopped_reason) }));
  } else if (alert.next_escalation_at) {
    clock = h(
      "p",
      { class: "next" },
      h("span", { class: "next-label" }, t("alert.next")),
      " ",
      h("span", { class: "countdown", dataset: { deadline: alert.next_escalation_at }, "aria-live": "off" }, "–:––"),
    );
  } else {
    clock = h("p", { class: "last-tier" }, t("alert.lastTier"));
  }
  return h("div", { class: "alert-clock" }, h("p", { class: "tier" }, tier), clock);
}

/** Acknowledged without "on the way" yet: the time until the holder is called again, or, once
 * she was, until the alert returns to the climb. */
function progressClock(alert) {
  if (alert.status !== "acknowledged" || !alert.progress_due_at) return null;
  const recalled = Boolean(alert.recalled_at);
  const due = recalled ? "alert.returningNow" : "alert.recallingNow";
  return h(
    "p",
    { class: recalled ? "next progress recalled" : "next progress" },
    h("span", { class: "next-label" }, t(recalled ? "alert.returnsIn" : "alert.recallIn")),
    " ",
    h("span", { class: "countdown", dataset: { deadline: alert.progress_due_at, due }, "aria-live": "off" }, "–:––"),
  );
}

function meta(board, alert) {
  const parts = [
    t("alert.raisedAt", { time: formatTime(alert.raised_at) }),
    h("span", { class: "ago", dataset: { since: alert.received_at } }),
  ];
  if (alert.arrival_delay_seconds >= 60) parts.push(t("alert.late", { n: Math.round(alert.arrival_delay_seconds / 60) }));
  const detail = alert.source_detail;
  if (detail === "relative_call") parts.push(t("alert.source.relative_call"));
  else if (alert.source === "rule") parts.push(t("alert.source.rule", { rule: word("rule", detail) }));
  else parts.push(t(`alert.source.${alert.source}`));
  if (alert.joined_count > 0) parts.push(t("alert.joined", { n: alert.joined_count }));
  return parts.flatMap((part, i) => (i ? [" · ", part] : [part]));
}

/** Whom each tier called, when, and whether their phone confirmed it. */
function called(board, entry) {
  const { alert, detail } = entry;
  if (!detail || alert.status === "resolved") return null;
  const rows = [];
  for (const tier of detail.tiers) {
    const targets = detail.targets.filter((target) => target.tier === tier.tier);
    if (!targets.length) {
      rows.push(h("li", { class: "tier-empty" }, "⚠ ", t("alert.tierEmpty", { tier: tier.tier + 1 })));
      continue;
    }
    for (const target of targets) {
      const state = !target.has_phone
        ? t("alert.noPhone")
        : target.confirmed
          ? `✓ ${t("alert.confirmed")}`
          : t("alert.unconfirmed");
      rows.push(
        h(
          "li",
          {},
          h("span", { class: "tier-tag" }, `T${target.tier + 1}`),
          h("span", { class: "called-name" }, board.staffName(target.user_id)),
          h("span", { class: "muted" }, ` (${word("target", target.rule)}) ${formatTime(target.notified_at)}`),
          target.times_notified > 1 ? h("span", { class: "muted" }, ` · ${t("alert.times", { n: target.times_notified })}`) : null,
          h("span", { class: target.confirmed ? "ok" : "warn" }, ` · ${state}`),
          target.sms_sent_at ? h("span", { class: "sms-sent" }, ` · ${t("alert.smsSent")} ${formatTime(target.sms_sent_at)}`) : null,
        ),
      );
    }
  }
  if (!rows.length) return h("p", { class: "called muted" }, t("alert.nobodyCalled"));
  return h("div", { class: "called" }, h("span", { class: "called-title" }, `${t("alert.called")}:`), h("ul", {}, rows));
}

function actions(board, alert) {
  const role = board.state.user.role;
  const unit = role === "palliative_unit";
  const button = (label, name, handler, extra = "") =>
    h(
      "button",
      {
        type: "button",
        class: `btn ${extra}`,
        dataset: { action: name, focusKey: `${alert.id}:${name}` },
        onclick: () => handler(board, alert),
      },
      label,
    );
  const list = [];
  if (alert.status === "open") list.push(button(t("act.acknowledge"), "acknowledge", acknowledge, "btn-primary"));
  if (unit && alert.status !== "resolved") list.push(button(t("act.decide"), "decide", decide, "btn-primary"));
  if (!unit && TAKEN.has(alert.status)) list.push(button(t("act.handOver"), "hand-over", handOver));
  const canClimb = alert.status === "open" && !alert.paging_stopped_reason && alert.tier + 1 < alert.tier_count;
  if (role === "coordinator" && canClimb) list.push(button(t("act.escalate"), "escalate", escalate, "btn-warn"));
  if (!unit && alert.status !== "resolved") list.push(button(t("act.resolve"), "resolve", resolve));
  if (!unit && alert.status === "resolved") list.push(button(t("act.reopen"), "reopen", reopen));
  list.push(button(t("act.openCase"), "case", (b, a) => b.openCase(a.case_id)));
  return list;
}

// ---- actions: each is one user action with its own Idempotency-Key (see Api.post) --------------

async function acknowledge(board, alert) {
  await board.run(() => board.api.post(`/alerts/${alert.id}/acknowledge`), (answer) => board.alertChanged(answer));
}

async function escalate(board, alert) {
  await board.run(() => board.api.post(`/alerts/${alert.id}/escalate`), (answer) => board.alertChanged(answer));
}

async function reopen(board, alert) {
  await board.run(() => board.api.post(`/alerts/${alert.id}/reopen`), (answer) => board.alertChanged(answer));
}

async function handOver(board, alert) {
  const colleagues = [...board.state.staff.values()]
    .filter((p) => ["nurse", "coordinator", "key_person"].includes(p.role) && p.id !== alert.acknowledged_by)
    .map((p) => ({ value: p.id, label: `${p.full_name} (${word("role", p.role)})` }));
  await ask({
    title: t("dlg.handOver"),
    submitLabel: t("act.handOver"),
    fields: [{ name: "to_user_id", label: t("dlg.handOverTo"), type: "search-select", options: colleagues, required: true }],
    submit: async (values, key) =>
      board.alertChanged(await board.api.send("POST", `/alerts/${alert.id}/hand-over`, values, key)),
  });
}

async function resolve(board, alert) {
  await ask({
    title: t("dlg.resolve"),
    submitLabel: t("act.resolve"),
    fields: [
      {
        name: "outcome",
        label: t("dlg.outcome"),
        type: "select",
        required: true,
        options: OUTCOMES.map((o) => ({ value: o, label: word("outcome", o) })),
      },
      { name: "note", label: t("dlg.note"), type: "textarea" },
    ],
    submit: async (values, key) =>
      board.alertChanged(await board.api.send("POST", `/alerts/${alert.id}/resolve`, withoutEmpty(values), key)),
  });
}

async function decide(board, alert) {
  await ask({
    title: t("dlg.decide"),
    submitLabel: t("act.decide"),
    fields: [
      {
        name: "decision",
        label: t("dlg.decision"),
        type: "select",
        required: true,
        options: DECISIONS.map((d) => ({ value: d, label: word("decision", d) })),
      },
      { name: "note", label: t("dlg.note"), type: "textarea" },
    ],
    submit: async (values, key) =>
      board.alertChanged(await board.api.send("POST", `/alerts/${alert.id}/unit-decision`, withoutEmpty(values), key)),
  });
}

/** A relative calls the coordinator: raise an alert on the person's case. */
export async function raiseForCase(board, caseId = null) {
  const cases = [...board.state.cases.values()]
    .filter((c) => c.status === "active" || c.status === "referred")
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({ value: c.id, label: `${c.name} · ${c.cpr_masked} · ${board.districtName(c.district_id)}` }));
  const clientId = crypto.randomUUID(); // one raise however often it is retried
  await ask({
    title: t("dlg.raise"),
    submitLabel: t("dlg.raiseSubmit"),
    dangerous: true,
    fields: [
      caseId
        ? { name: "case_id", label: t("dlg.case"), type: "select", required: true, value: caseId, options: cases }
        : { name: "case_id", label: t("dlg.case"), type: "search-select", required: true, options: cases, placeholder: t("dlg.caseSearch") },
      {
        name: "reason",
        label: t("dlg.reason"),
        type: "select",
        required: true,
        options: REASONS.map((r) => ({ value: r, label: word("reason", r) })),
      },
      {
        name: "severity",
        label: t("dlg.severity"),
        type: "select",
        required: true,
        value: "high",
        options: ["critical", "high", "normal"].map((v) => ({ value: v, label: word("severity", v) })),
      },
      { name: "note", label: t("dlg.note"), type: "textarea" },
    ],
    submit: async (values, key) => {
      const body = { client_id: clientId, source_detail: "relative_call", ...withoutEmpty(values) };
      board.alertChanged(await board.api.send("POST", "/alerts", body, key));
    },
  });
}

function withoutEmpty(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== ""));
}

// ---- the ticking parts: countdowns and "n min ago", updated in place ---------------------------

export function tickAlerts(board) {
  const now = board.api.serverNow();
  for (const el of document.querySelectorAll("#alerts .countdown")) {
    const left = Math.round((Date.parse(el.dataset.deadline) - now) / 1000);
    const text = left > 0 ? clockText(left) : t(el.dataset.due ?? "alert.escalatingNow");
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("soon", left <= 60);
  }
  for (const el of document.querySelectorAll("#alerts .ago")) {
    const minutes = Math.max(0, Math.floor((now - Date.parse(el.dataset.since)) / 60000));
    const text = t("alert.ago", { n: minutes });
    if (el.textContent !== text) el.textContent = text;
  }
}

function clockText(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
