// The board's other panels: tonight's visits, who is on call now and the gaps ahead, the cases
// at risk, and (for the palliative unit) the cases it serves.

import { ask } from "./dialog.js";
import { byId, h, render } from "./dom.js";
import { formatDate, formatDateTime, formatTime, t, word } from "./i18n.js";

const STATE_ICON = { missed: "✕", overdue: "⚠", under_way: "▶", planned: "○", done: "✓", cancelled: "–" };
const NEEDS_ACTION = { missed: 0, overdue: 1, under_way: 2 };

// ---- tonight's visits --------------------------------------------------------------------------

export function renderVisits(board) {
  const shiftBoard = board.state.visits;
  const title = board.state.visitsShift === "tonight" ? t("visits.title") : t("visits.currentTitle");
  byId("visits-title").textContent = title;
  byId("visits-toggle").textContent =
    board.state.visitsShift === "tonight" ? t("visits.showCurrent") : t("visits.showTonight");
  if (!shiftBoard) return render(byId("visits-body"), h("p", { class: "empty" }, t("loading")));
  const { shift } = shiftBoard;
  // A planned visit turns overdue when its window ends, an event or not: derive it from the clock.
  const now = board.api.serverNow();
  const visits = shiftBoard.visits.map((v) =>
    v.state === "planned" && Date.parse(v.window_end) < now ? { ...v, state: "overdue" } : v,
  );
  const counts = { planned: 0, overdue: 0, under_way: 0, done: 0, missed: 0, cancelled: 0 };
  for (const v of visits) counts[v.state] += 1;
  const tile = (state) =>
    h(
      "div",
      { class: `tile state-${state}${counts[state] ? "" : " zero"}`, dataset: { state } },
      h("span", { class: "tile-number" }, String(counts[state])),
      h("span", { class: "tile-label" }, `${STATE_ICON[state]} ${word("state", state)}`),
    );
  const urgent = visits
    .filter((v) => v.state in NEEDS_ACTION || (v.state === "planned" && !v.assignee))
    .sort((a, b) => (NEEDS_ACTION[a.state] ?? 3) - (NEEDS_ACTION[b.state] ?? 3) || a.window_start.localeCompare(b.window_start));
  const rest = visits.filter((v) => !urgent.includes(v) && v.state !== "cancelled");
  render(
    byId("visits-body"),
    h(
      "p",
      { class: "shift-name" },
      t("visits.shift", { kind: word("shift", shift.kind), from: formatTime(shift.starts), to: formatTime(shift.ends) }),
    ),
    h("div", { class: "tiles" }, ["under_way", "overdue", "missed", "planned", "done"].map(tile)),
    urgent.length
      ? h("ul", { class: "visit-list" }, urgent.map((v) => visitRow(board, v)))
      : h("p", { class: "empty" }, t("visits.none")),
    rest.length
      ? h(
          "details",
          { class: "more" },
          h("summary", {}, t("visits.more", { n: rest.length })),
          h("ul", { class: "visit-list" }, rest.map((v) => visitRow(board, v))),
        )
      : null,
  );
}

function visitRow(board, visit) {
  const person = board.caseLabel(visit.case_id);
  const canAssign = board.state.user.role === "coordinator" && visit.status === "planned";
  return h(
    "li",
    { class: `visit state-${visit.state}`, dataset: { visitId: visit.id, state: visit.state } },
    h("span", { class: "visit-window" }, `${formatTime(visit.window_start)}–${formatTime(visit.window_end)}`),
    h("span", { class: "state-badge" }, `${STATE_ICON[visit.state]} ${word("state", visit.state)}`),
    h(
      "button",
      { type: "button", class: "link", onclick: () => board.openCase(visit.case_id), dataset: { focusKey: `v:${visit.id}:case` } },
      person.name,
    ),
    h("span", { class: visit.assignee ? "assignee" : "assignee warn" }, visit.assignee ? visit.assignee.name : t("visits.unassigned")),
    canAssign
      ? h(
          "button",
          { type: "button", class: "btn btn-small", onclick: () => reassign(board, visit), dataset: { focusKey: `v:${visit.id}:assign` } },
          t("act.reassign"),
        )
      : null,
  );
}

async function reassign(board, visit) {
  const nurses = [...board.state.staff.values()]
    .filter((p) => p.role === "nurse" && p.district_ids.includes(visit.district_id) && p.id !== visit.assignee?.id)
    .map((p) => ({ value: p.id, label: p.palliative_skilled ? `${p.full_name} ★` : p.full_name }));
  await ask({
    title: t("dlg.reassign"),
    submitLabel: t("act.reassign"),
    fields: [{ name: "user_id", label: t("dlg.nurse"), type: "select", required: true, options: nurses }],
    submit: async (values, key) => {
      await board.api.send("POST", `/visits/${visit.id}/assign`, values, key);
      board.refresh("visits");
    },
  });
}

// ---- on call now, and the gaps the coverage checks found ----------------------------------------

export function renderOnCall(board) {
  const { roster, coverage, alertCoverage } = board.state;
  if (!roster) return render(byId("oncall-body"), h("p", { class: "empty" }, t("loading")));
  const now = board.api.serverNow();
  const shift = roster.shifts.find((s) => Date.parse(s.starts) <= now && now < Date.parse(s.ends));
  const entries = shift ? shift.entries : [];
  const phones = readinessNow(alertCoverage, now);
  const names = (list) =>
    list.length
      ? list.map((e) =>
          h(
            "li",
            {},
            e.full_name,
            e.palliative_skilled ? h("span", { class: "skilled", title: t("oncall.skilled") }, " ★") : null,
            phoneState(phones.get(e.user_id)),
          ),
        )
      : [h("li", { class: "warn" }, `⚠ ${t("oncall.nobody")}`)];
  const districts = board.districts();
  const providers = [...board.state.orgs.values()].filter((o) => o.kind === "palliative_unit" || o.kind === "palliative_team");
  render(
    byId("oncall-body"),
    shift
      ? h("p", { class: "shift-name" }, t("visits.shift", { kind: word("shift", shift.shift_kind), from: formatTime(shift.starts), to: formatTime(shift.ends) }))
      : null,
    h("h3", {}, t("oncall.tier1")),
    h(
      "dl",
      { class: "oncall-districts" },
      districts.map((d) => [
        h("dt", {}, d.name),
        h("dd", {}, h("ul", {}, names(entries.filter((e) => e.duty === "on_call_nurse" && e.district_id === d.id)))),
      ]),
    ),
    h("h3", {}, t("oncall.tier2")),
    h(
      "dl",
      { class: "oncall-districts" },
      h("dt", {}, t("oncall.coordinator")),
      h("dd", {}, h("ul", {}, names(entries.filter((e) => e.duty === "coordinator")))),
      h("dt", {}, t("oncall.keyPerson")),
      h("dd", {}, h("ul", {}, names(entries.filter((e) => e.duty === "key_person")))),
    ),
    h("h3", {}, t("oncall.tier3")),
    h("ul", { class: "plain" }, providers.map((o) => h("li", {}, o.name))),
  );
  render(byId("gaps-body"), gapList(board, coverage, alertCoverage));
}

/** Each person's phone check on the shift running now, by user id. */
function readinessNow(alertCoverage, now) {
  const shift = (alertCoverage?.shifts || []).find((s) => Date.parse(s.starts) <= now && now < Date.parse(s.ends));
  return new Map((shift?.people || []).map((p) => [p.user_id, p]));
}

/** What the start-of-shift check showed of a person's phone: push confirmed, SMS delivered, or what is missing. */
function phoneState(person) {
  if (!person) return null;
  const marks = [];
  if (person.push_confirmed_at) marks.push(`✓ ${t("ready.push")}`);
  else if (person.no_push_token) marks.push(t("ready.noToken"));
  if (person.sms_delivered_at) marks.push(`✓ ${t("ready.sms")}`);
  else if (person.no_number) marks.push(t("ready.noNumber"));
  if (!person.ready) marks.push(t("ready.untested"));
  return h("span", { class: person.ready ? "phone ok" : "phone warn", "data-user": person.user_id }, ` · ${marks.join(" · ")}`);
}

/** Both coverage checks, merged per shift into what matters at night: the tiers that would find
 * nobody (and so pass an alert straight on), districts without palliative skills on call, and
 * districts without a visiting nurse. A shift nobody is rostered on yet is one line, not twenty. */
function gapList(board, coverage, alertCoverage) {
  if (!coverage && !alertCoverage) return h("p", { class: "empty" }, t("loading"));
  const shifts = new Map();
  const entry = (s) => {
    if (!shifts.has(s.starts)) shifts.set(s.starts, { shift: s, items: new Map(), unrostered: false });
    return shifts.get(s.starts);
  };
  const place = (districtId) => (districtId ? board.districtName(districtId) : t("gaps.municipality"));
  for (const s of coverage?.shifts || []) {
    const found = entry(s);
    found.unrostered =
      s.coordinators === 0 && s.key_persons === 0 && s.districts.every((d) => d.nurses === 0 && d.on_call_nurses === 0);
    for (const gap of s.gaps.filter((g) => g.missing === "nurse")) {
      found.items.set(`nurse:${gap.district_id}`, `${place(gap.district_id)}: ${word("gaps.missing", "nurse")}`);
    }
  }
  for (const s of alertCoverage?.shifts || []) {
    const found = entry(s);
    const grouped = new Map();
    for (const gap of s.gaps) {
      const key = `${gap.tier}:${gap.district_id}:${gap.missing.join(",")}`;
      if (!grouped.has(key)) grouped.set(key, { gap, severities: [] });
      grouped.get(key).severities.push(gap.severity);
    }
    for (const [key, { gap, severities }] of grouped) {
      const which = severities.length === 3 ? "" : ` (${severities.map((v) => word("severity", v).toLowerCase()).join(", ")})`;
      const text = t("gaps.tier", { tier: gap.tier + 1, targets: gap.missing.map((m) => word("target", m)).join(", ") });
      found.items.set(`tier:${key}`, `${place(gap.district_id)}: ${text}${which}${gap.escalates_at_once ? ` ${t("gaps.skipped")}` : ""}`);
    }
    for (const gap of s.readiness_gaps || []) {
      const text = t("gaps.unready", { tier: gap.tier + 1 });
      found.items.set(`ready:${gap.tier}:${gap.district_id}`, `${place(gap.district_id)}: ${text}`);
    }
    for (const district of s.districts_without_skilled_on_call) {
      found.items.set(`skilled:${district}`, `${place(district)}: ${word("gaps.missing", "palliative_skilled_on_call")}`);
    }
  }
  const withGaps = [...shifts.values()]
    .filter((found) => found.items.size || found.unrostered)
    .sort((a, b) => a.shift.starts.localeCompare(b.shift.starts));
  if (!withGaps.length) return h("p", { class: "ok" }, `✓ ${t("gaps.none")}`);
  return withGaps.map(({ shift, items, unrostered }) =>
    h(
      "div",
      { class: "gap-shift" },
      h("h4", {}, `${word("shift", shift.shift_kind)} ${formatDateTime(shift.starts)}–${formatTime(shift.ends)}`),
      h(
        "ul",
        { class: "gap-list" },
        unrostered
          ? h("li", {}, `⚠ ${t("gaps.unrostered")}`)
          : [...items.values()].map((text) => h("li", {}, `⚠ ${text}`)),
      ),
    ),
  );
}

// ---- Lindra's own faults: the red banner --------------------------------------------------------

export function renderFaults(board) {
  const faults = board.state.faults || [];
  const banner = byId("faults");
  banner.hidden = !faults.length;
  render(
    banner,
    faults.map((f) => h("p", { class: "fault", "data-fault": f.fault }, `⚠ ${word("fault", f.fault)} (${t("fault.since", { at: formatTime(f.since) })})`)),
  );
}

// ---- cases at risk -------------------------------------------------------------------------------

const RISK_SHOWN = 8; // the most reasons first; the rest folded, so the night's panels stay in sight

export function renderRisk(board) {
  const risk = board.state.atRisk;
  if (risk === undefined) return render(byId("risk-body"), h("p", { class: "empty" }, t("loading")));
  if (risk === null) return render(byId("risk-body"), h("p", { class: "empty" }, t("risk.unavailable")));
  byId("risk-count").textContent = risk.total ? String(risk.total) : "";
  if (!risk.items.length) return render(byId("risk-body"), h("p", { class: "ok" }, `✓ ${t("risk.none")}`));
  const row = (item) =>
    h(
      "li",
      { class: "risk", dataset: { caseId: item.case_id } },
      h(
        "button",
        { type: "button", class: "link risk-name", onclick: () => board.openCase(item.case_id), dataset: { focusKey: `r:${item.case_id}` } },
        item.name,
      ),
      h("span", { class: "muted" }, ` · ${board.districtName(item.district_id)} · ${word("case.phase", item.phase)}`),
      h("ul", { class: "chips" }, item.reasons.map((reason) => h("li", { class: `chip risk-${reason.code}` }, riskText(reason)))),
    );
  const folded = risk.items.slice(RISK_SHOWN);
  const unlisted = risk.total - risk.items.length; // beyond the endpoint's limit
  render(
    byId("risk-body"),
    h("ul", { class: "risk-list" }, risk.items.slice(0, RISK_SHOWN).map(row)),
    folded.length
      ? h(
          "details",
          { class: "more" },
          h("summary", {}, t("risk.more", { n: folded.length })),
          h("ul", { class: "risk-list" }, folded.map(row)),
        )
      : null,
    unlisted > 0 ? h("p", { class: "muted" }, t("risk.unlisted", { n: unlisted })) : null,
  );
}

function riskText(reason) {
  let text = word("risk", reason.code);
  if (reason.indications?.length) text += `: ${reason.indications.map((i) => word("indication", i)).join(", ")}`;
  else if (reason.raised_at) text += ` (${formatDateTime(reason.raised_at)})`;
  else if (reason.on) text += ` (${formatDate(reason.on)})`;
  return text;
}

// ---- the palliative unit's cases ------------------------------------------------------------------

export function renderUnitCases(board) {
  const cases = [...board.state.cases.values()].sort((a, b) => a.name.localeCompare(b.name));
  render(
    byId("unit-cases-body"),
    cases.length
      ? h(
          "ul",
          { class: "risk-list" },
          cases.map((c) =>
            h(
              "li",
              {},
              h("button", { type: "button", class: "link risk-name", onclick: () => board.openCase(c.id), dataset: { focusKey: `u:${c.id}` } }, c.name),
              h("span", { class: "muted" }, ` · ${c.cpr_masked} · ${word("case.status", c.status)} · ${word("case.phase", c.phase)}`),
            ),
          ),
        )
      : h("p", { class: "empty" }, t("none")),
  );
}
