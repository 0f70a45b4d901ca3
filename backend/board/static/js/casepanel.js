// The case panel: what a caller at night needs in front of them. Wishes, the medicine in the
// home, the last scores and medicine given, relatives, the care team and the recent timeline.

import { byId, h, render } from "./dom.js";
import { formatDate, formatDateTime, t, word } from "./i18n.js";
import { renderLetters, unreadOnCase } from "./letters.js";

const SEVERE = 7; // ESAS-r: 7 or more is severe

let returnFocus = null;

export async function openCase(board, caseId) {
  const panel = byId("case-panel");
  if (panel.hidden) returnFocus = document.activeElement;
  if (board.state.caseOpen !== caseId) {
    board.state.caseView = "overview";
    board.state.caseLetters = null;
  }
  board.state.caseOpen = caseId;
  renderCaseTabs(board);
  // Below the top bar, so the connection state and the clock stay in sight while a call goes on.
  panel.style.top = `${document.querySelector(".topbar").offsetHeight}px`;
  panel.hidden = false;
  render(byId("case-body"), h("p", { class: "empty" }, t("loading")));
  byId("case-title").textContent = board.caseLabel(caseId).name;
  byId("case-title").focus();
  await loadCase(board, caseId);
}

/** Read the case again (an event about it arrived while the panel shows it), and its
 * correspondence when that is the view shown. */
export async function loadCase(board, caseId) {
  try {
    const letters = board.state.caseView === "letters";
    const [page, timeline, correspondence] = await Promise.all([
      board.api.get(`/cases/${caseId}`),
      board.api.get(`/cases/${caseId}/timeline?limit=40`),
      letters ? board.api.get(`/cases/${caseId}/correspondence`) : null,
    ]);
    if (board.state.caseOpen !== caseId) return; // another case was opened meanwhile
    board.state.casePage = { page, timeline };
    if (correspondence) board.state.caseLetters = correspondence;
    renderCase(board);
  } catch (error) {
    if (board.state.caseOpen === caseId) render(byId("case-body"), h("p", { class: "dialog-error" }, error.message));
  }
}

export function closeCase(board) {
  board.state.caseOpen = null;
  board.state.casePage = null;
  board.state.caseLetters = null;
  byId("case-panel").hidden = true;
  if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
}

/** The panel shows the case's overview or its correspondence (with my unread letters counted). */
export function showCaseView(board, view) {
  if (!board.state.caseOpen || board.state.caseView === view) return;
  board.state.caseView = view;
  renderCaseTabs(board);
  renderCase(board);
  if (view === "letters") loadCase(board, board.state.caseOpen);
}

export function renderCaseTabs(board) {
  for (const tab of document.querySelectorAll("#case-views .tab")) {
    tab.setAttribute("aria-pressed", String(tab.dataset.caseView === (board.state.caseView ?? "overview")));
  }
  const unread = board.state.caseOpen ? unreadOnCase(board) : 0;
  byId("case-letters-unread").textContent = unread ? `✉ ${unread}` : "";
  byId("case-letters-unread").title = unread ? t("letters.unread", { count: unread }) : "";
}

export function renderCase(board) {
  const loaded = board.state.casePage;
  if (!loaded || byId("case-panel").hidden) return;
  const { page, timeline } = loaded;
  const items = timeline.items;
  byId("case-title").textContent = page.citizen.name;
  renderCaseTabs(board);
  if (board.state.caseView === "letters") return renderLetters(board);
  render(
    byId("case-body"),
    h(
      "p",
      { class: "case-id" },
      `${t("case.cpr")} ${page.citizen.cpr} · ${t("case.age", { n: page.citizen.age })} · ${board.districtName(page.district_id)}`,
    ),
    h("p", {}, page.citizen.address, page.citizen.phone ? ` · ☎ ${page.citizen.phone}` : ""),
    h(
      "p",
      {},
      `${word("case.status", page.status)} · ${word("case.phase", page.phase)} · ${t("case.diagnosis")}: ${page.diagnosis}`,
    ),
    page.flags.length
      ? section("case.flags", h("ul", { class: "chips" }, page.flags.map((f) => h("li", { class: "chip warn" }, `⚠ ${word("flag", f)}`))))
      : null,
    section("case.wishes", wishes(page)),
    section("case.medicine", medicine(page)),
    section("case.scores", scores(items)),
    section("case.given", given(items)),
    section("case.relatives", relatives(page)),
    section("case.team", team(page)),
    section("case.timeline", recent(items)),
  );
}

function section(titleKey, ...content) {
  return h("section", { class: "case-section" }, h("h3", {}, t(titleKey)), content);
}

function wishes(page) {
  const wish = page.wish;
  const terminal = page.terminal;
  const lines = [];
  if (!wish) lines.push(h("p", { class: "warn" }, t("case.noWish")));
  else {
    lines.push(h("p", { class: "big" }, `${t("case.diesAtHome")}: ${word("wish", wish.dies_at_home)}`));
    if (wish.preferred_place_of_death) lines.push(h("p", {}, `${t("case.placeOfDeath")}: ${word("place", wish.preferred_place_of_death)}`));
    if (wish.preferred_place_of_care) lines.push(h("p", {}, `${t("case.placeOfCare")}: ${word("place", wish.preferred_place_of_care)}`));
    lines.push(h("p", { class: "muted" }, t("case.discussed", { date: formatDate(wish.discussed_on), who: wish.discussed_with })));
  }
  const declared = terminal.declared_on ? t("case.terminalOn", { date: formatDate(terminal.declared_on) }) : t("none");
  lines.push(
    h(
      "p",
      {},
      `${t("case.terminal")}: ${declared} · ${t("case.grant")}: ${word("application", terminal.terminal_grant)} · ${t("case.leave")}: ${word("application", terminal.carers_leave)}`,
    ),
  );
  return lines;
}

function medicine(page) {
  const { items, missing } = page.medicine;
  return [
    missing.length
      ? h("p", { class: "warn big" }, `⚠ ${t("case.medicineMissing", { list: missing.map((i) => word("indication", i)).join(", ") })}`)
      : null,
    items.length
      ? h(
          "ul",
          { class: "plain" },
          items.map((m) =>
            h(
              "li",
              { class: m.state === "ok" ? "" : "warn" },
              `${word("indication", m.indication)}: ${m.drug} ${m.strength}, ${m.quantity} – ${t("case.expires", { date: formatDate(m.expires_on) })}`,
              m.state === "ok" ? "" : ` ⚠ ${word("case.state", m.state)}`,
            ),
          ),
        )
      : h("p", { class: "warn" }, t("case.noMedicine")),
  ];
}

function scores(items) {
  const latest = items.find((i) => i.type === "scores");
  if (!latest) return h("p", { class: "muted" }, t("case.noScores"));
  return [
    h("p", { class: "muted" }, `${latest.instrument} · ${formatDateTime(latest.at)} · ${latest.recorded_by.name}`),
    h(
      "ul",
      { class: "scores" },
      Object.entries(latest.scores).map(([item, value]) =>
        h("li", { class: value >= SEVERE ? "severe" : "" }, h("span", {}, word("esas", item)), h("strong", {}, value >= SEVERE ? `⚠ ${value}` : String(value))),
      ),
    ),
  ];
}

function given(items) {
  const doses = items.filter((i) => i.type === "medicine_given").slice(0, 4);
  if (!doses.length) return h("p", { class: "muted" }, t("case.noGiven"));
  return h(
    "ul",
    { class: "plain" },
    doses.map((d) =>
      h("li", {}, `${formatDateTime(d.at)}: ${d.drug} ${d.dose} ${d.unit} ${d.route} – ${d.reason}${d.effect ? ` → ${d.effect}` : ""}`),
    ),
  );
}

function relatives(page) {
  if (!page.relatives.length) return h("p", { class: "muted" }, t("case.noRelatives"));
  return h(
    "ul",
    { class: "plain" },
    page.relatives.map((r) => {
      const tags = [];
      if (r.primary_contact) tags.push(t("case.primary"));
      if (r.lives_with_citizen) tags.push(t("case.livesWith"));
      if (r.is_child) tags.push(t("case.child", { n: r.age }));
      if (!r.consent_to_information) tags.push(t("case.noConsent"));
      return h(
        "li",
        {},
        h("strong", {}, r.name),
        ` (${r.relation})`,
        r.phone ? ` ☎ ${r.phone}` : "",
        tags.length ? h("span", { class: "muted" }, ` · ${tags.join(" · ")}`) : null,
        r.needs_support_offer ? h("span", { class: "warn" }, ` ⚠ ${t("case.supportMissing")}`) : null,
      );
    }),
  );
}

function team(page) {
  const care = page.care_team;
  const row = (key, value) => (value ? [h("dt", {}, t(key)), h("dd", {}, value)] : null);
  return h(
    "dl",
    { class: "team" },
    row("case.contactPerson", care.contact_person?.name),
    row("case.keyPerson", care.key_person?.name),
    row("case.gp", care.gp_name ? `${care.gp_name}${care.gp_phone ? ` ☎ ${care.gp_phone}` : ""}` : null),
    row("case.hospital", care.hospital_department),
    row("case.palliativeTeam", care.palliative_team?.name),
  );
}

function recent(items) {
  if (!items.length) return h("p", { class: "muted" }, t("case.noTimeline"));
  return h(
    "ol",
    { class: "timeline" },
    items.slice(0, 12).map((i) => h("li", {}, h("span", { class: "tl-when" }, formatDateTime(i.at)), h("span", { class: "tl-kind" }, word("tl", i.type)), timelineText(i))),
  );
}

function timelineText(item) {
  switch (item.type) {
    case "visit":
      return `${word("state", item.state)}${item.assignee ? ` · ${item.assignee.name}` : ""}${item.reason ? ` · ${item.reason}` : ""}`;
    case "scores": {
      const severe = Object.entries(item.scores).filter(([, v]) => v >= SEVERE);
      return `${item.instrument}${severe.length ? ` ⚠ ${severe.map(([k, v]) => `${word("esas", k)} ${v}`).join(", ")}` : ""}`;
    }
    case "medicine_given":
      return `${item.drug} ${item.dose} ${item.unit} – ${item.reason}`;
    case "note":
      return item.text.length > 140 ? `${item.text.slice(0, 140)} …` : item.text;
    case "flag":
      return word("flag", item.kind);
    case "death":
      return word("place", item.place);
    case "correspondence": {
      const party = item.direction === "in" ? item.sender_name : item.recipient_name;
      return `${t(`letter.${item.direction}`)} ${party ?? ""} · ${item.topic ?? word("category", item.category)} · ${word("letter", item.status)}`;
    }
    default:
      return "";
  }
}
