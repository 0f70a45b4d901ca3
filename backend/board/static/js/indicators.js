// The indicators view: the city's quality figures for a period, as charts and as a CSV download.

import { barChart, keyFigure, shareChart } from "./charts.js";
import { byId, h, render } from "./dom.js";
import { formatNumber, t, word } from "./i18n.js";

const PLACES = ["home", "nursing_home", "hospice", "palliative_unit", "hospital"];
const OUTCOMES = ["managed_at_home", "died_at_home", "false_alarm", "palliative_stay", "admitted_to_hospital"];
const SOURCES = ["hospital_ref01", "gp_ref01", "municipal", "citizen", "relative"];

/** Copenhagen's calendar date of an instant, as YYYY-MM-DD. */
function copenhagenDate(ms) {
  return new Intl.DateTimeFormat("sv-SE", { timeZone: "Europe/Copenhagen" }).format(new Date(ms));
}

export function setUpIndicators(board) {
  const today = board.api.serverNow();
  if (!byId("ind-from").value) byId("ind-from").value = copenhagenDate(today - 29 * 86400000);
  if (!byId("ind-to").value) byId("ind-to").value = copenhagenDate(today);
  const select = byId("ind-district");
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, t("ind.allDistricts")),
    board.districts().map((d) => h("option", { value: d.id, selected: d.id === chosen }, d.name)),
  );
}

function query() {
  const params = new URLSearchParams({ from: byId("ind-from").value, to: byId("ind-to").value });
  if (byId("ind-district").value) params.set("district_id", byId("ind-district").value);
  return params.toString();
}

export async function loadIndicators(board) {
  render(byId("ind-body"), h("p", { class: "empty" }, t("loading")));
  try {
    board.state.indicators = await board.api.get(`/indicators?${query()}`);
    renderIndicators(board);
  } catch (error) {
    board.state.indicators = null;
    render(byId("ind-body"), h("p", { class: "dialog-error", role: "alert" }, error.message || t("ind.unavailable")));
  }
}

/** The CSV needs the bearer token, so it is fetched and handed to the browser as a file. */
export async function downloadCsv(board) {
  const q = query();
  await board.run(async () => {
    const response = await board.api.send("GET", `/indicators.csv?${q}`, null, null, true);
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `lindra-indicators-${byId("ind-from").value}-${byId("ind-to").value}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}

const percent = (share) => (share == null ? "–" : `${formatNumber(share * 100)} %`);
// A count left out so that no one can be singled out (backend/board/suppression.py) is null.
const count = (n) => (n == null ? "–" : String(n));
const countRow = (label, value, cls = "") => ({ label, value: value ?? 0, text: count(value), cls });

function minutes(seconds) {
  if (seconds == null) return "–";
  const total = Math.round(seconds / 60);
  return total < 60 ? `${total} min` : `${Math.floor(total / 60)} ${t("unit.hours")} ${total % 60} min`;
}

export function renderIndicators(board) {
  const figures = board.state.indicators;
  if (!figures) return;
  const { deaths, alerts, visits, referrals } = figures;
  const block = (titleKey, kpis, ...charts) =>
    h("section", { class: "ind-block" }, h("h3", {}, t(titleKey)), h("div", { class: "kpis" }, kpis), charts);

  render(
    byId("ind-body"),
    h("p", { class: "muted", id: "ind-suppression" }, t("ind.suppression", { n: figures.min_count })),
    block(
      "ind.deaths",
      [
        keyFigure(count(deaths.total), t("ind.deathsTotal")),
        keyFigure(
          percent(deaths.died_where_wished_share),
          t("ind.whereWished", { n: count(deaths.died_where_wished), of: count(deaths.with_wish) }),
        ),
        keyFigure(count(deaths.confirmed_by_notice), t("ind.deathsByNotice", { of: count(deaths.total) })),
      ],
      barChart({
        title: t("ind.byPlace"),
        rows: PLACES.map((p) => countRow(word("place", p), deaths.by_place[p], p === "home" ? "good" : "")),
      }),
    ),
    block(
      "ind.alerts",
      [
        keyFigure(count(alerts.raised), t("ind.raised")),
        keyFigure(percent(alerts.at_home_share), t("ind.atHome", { n: count(alerts.at_home), of: count(alerts.resolved) })),
        keyFigure(count(alerts.at_home_then_admitted), t("ind.atHomeThenAdmitted", { of: count(alerts.at_home) })),
        keyFigure(
          count(alerts.admitted_confirmed_by_notice),
          t("ind.admittedByNotice", { of: count(alerts.admitted) }),
        ),
        keyFigure(minutes(alerts.time_to_acknowledge.median_seconds), t("ind.toAck")),
        keyFigure(minutes(alerts.time_to_bedside.median_seconds), t("ind.toBedside")),
      ],
      barChart({
        title: t("ind.byOutcome"),
        rows: OUTCOMES.map((o) =>
          countRow(word("outcome", o), alerts.by_outcome[o], o === "palliative_stay" || o === "admitted_to_hospital" ? "bad" : "good"),
        ),
      }),
      barChart({
        title: t("ind.responseTimes"),
        rows: [
          ["ind.ackMedian", alerts.time_to_acknowledge.median_seconds],
          ["ind.ackP90", alerts.time_to_acknowledge.p90_seconds],
          ["ind.bedsideMedian", alerts.time_to_bedside.median_seconds],
          ["ind.bedsideP90", alerts.time_to_bedside.p90_seconds],
        ].map(([key, seconds]) => ({ label: t(key), value: (seconds || 0) / 60, text: minutes(seconds) })),
      }),
    ),
    block(
      "ind.visits",
      [
        keyFigure(
          percent(visits.done_share),
          t("ind.visitsDone", { n: count(visits.done), of: count(visits.cancelled == null ? null : visits.planned - visits.cancelled) }),
        ),
      ],
      shareChart({
        title: t("ind.visitStates"),
        rows: [
          {
            label: t("ind.plannedVisits", { n: count(visits.planned) }),
            segments: [
              { key: "done", label: word("state", "done"), value: visits.done },
              { key: "missed", label: word("state", "missed"), value: visits.missed },
              { key: "cancelled", label: word("state", "cancelled"), value: visits.cancelled },
              { key: "open", label: t("ind.open"), value: visits.open },
            ],
          },
        ],
      }),
    ),
    block(
      "ind.referrals",
      [
        keyFigure(count(referrals.total), t("ind.referralsTotal")),
        keyFigure(
          percent(referrals.assessment.met_share),
          t("ind.assessedInTime", { target: percent(referrals.target) }),
          { true: "good", false: "bad" }[referrals.meets_target] ?? "",
        ),
      ],
      barChart({ title: t("ind.bySource"), rows: SOURCES.map((src) => countRow(word("source", src), referrals.by_source[src])) }),
      shareChart({
        title: t("ind.deadlines"),
        target: referrals.target,
        targetLabel: t("ind.target", { target: percent(referrals.target) }),
        rows: [
          ["ind.firstContact", referrals.first_contact],
          ["ind.assessment", referrals.assessment],
        ].map(([key, d]) => ({
          label: t(key),
          segments: [
            { key: "met", label: t("ind.met"), value: d.met },
            { key: "met_late", label: t("ind.metLate"), value: d.met_late },
            { key: "overdue", label: t("ind.overdue"), value: d.overdue },
          ],
        })),
      }),
      h("p", { class: "muted" }, t("ind.notDue", { a: count(referrals.first_contact.not_due), b: count(referrals.assessment.not_due) })),
    ),
  );
}
