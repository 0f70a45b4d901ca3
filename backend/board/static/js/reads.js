// Reading what the board shows: the names it needs (staff, districts, cases) and each panel's
// data. Every read renders its panel when it arrives; the feed decides when to read again.

import { renderAlerts } from "./alerts.js";
import { ApiError } from "./api.js";
import { loadCase, renderCaseTabs } from "./casepanel.js";
import { t } from "./i18n.js";
import { renderFaults, renderOnCall, renderRisk, renderVisits } from "./panels.js";

const CASE_PAGE_SIZE = 200;
export const MANAGERS = new Set(["coordinator", "key_person"]);
export const MUNICIPAL = new Set(["nurse", "coordinator", "key_person"]);

export const roleOf = (board) => board.state.user?.role;

/** Colleagues and organisations, to name who was called and which district. */
export async function loadStaff(board) {
  const [staff, orgs] = await Promise.all([board.api.get("/staff"), board.api.get("/organisations")]);
  board.state.staff = new Map(staff.map((p) => [p.id, p]));
  board.state.orgs = new Map(orgs.map((o) => [o.id, o]));
}

/** Names for the case ids alerts and visits carry: the live cases, page by page. */
export async function loadCases(board) {
  const cases = new Map();
  const statuses = roleOf(board) === "palliative_unit" ? [null] : ["active", "referred", "admitted"];
  for (const status of statuses) {
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: String(CASE_PAGE_SIZE) });
      if (status) params.set("status", status);
      if (cursor) params.set("cursor", cursor);
      const page = await board.api.get(`/cases?${params}`);
      for (const item of page.items) cases.set(item.id, item);
      cursor = page.next_cursor;
    } while (cursor);
  }
  board.state.cases = cases;
}

const lookingUp = new Set();

/** A case the lists did not hold (new since they were read): its page names it. */
export async function lookUpCase(board, caseId) {
  if (!caseId || lookingUp.has(caseId)) return;
  lookingUp.add(caseId);
  try {
    const page = await board.api.get(`/cases/${caseId}`);
    const cpr = page.citizen.cpr;
    board.state.cases.set(caseId, {
      id: caseId,
      name: page.citizen.name,
      cpr_masked: `${cpr.slice(0, 6)}-XXXX`,
      district_id: page.district_id,
      status: page.status,
      phase: page.phase,
    });
    board.renderAll();
  } catch {
    // Leave the placeholder; a render after a minute asks again (not every render: it may be a 404).
    setTimeout(() => lookingUp.delete(caseId), 60000);
  }
}

export async function loadAlerts(board) {
  const { alerts } = await board.api.get("/alerts");
  const next = new Map();
  for (const alert of alerts) next.set(alert.id, { alert, detail: board.state.alerts.get(alert.id)?.detail ?? null });
  board.state.alerts = next;
  renderAlerts(board);
  await Promise.all(alerts.filter((a) => a.status !== "resolved").map((a) => loadAlert(board, a.id)));
}

export async function loadAlert(board, alertId) {
  try {
    const detail = await board.api.get(`/alerts/${alertId}`);
    board.state.alerts.set(alertId, { alert: detail.alert, detail });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) board.state.alerts.delete(alertId);
    else throw error;
  }
  renderAlerts(board);
}

export async function loadVisits(board) {
  const path = board.state.visitsShift === "tonight" ? "/visits/tonight" : "/visits?shift=current";
  board.state.visits = await board.api.get(path);
  renderVisits(board);
}

function copenhagenDay(ms) {
  return new Intl.DateTimeFormat("sv-SE", { timeZone: "Europe/Copenhagen" }).format(new Date(ms));
}

export async function loadRoster(board) {
  const now = board.api.serverNow();
  // The night shift running now may have started yesterday.
  const range = `from=${copenhagenDay(now - 86400000)}&to=${copenhagenDay(now)}`;
  const [roster, coverage, alertCoverage] = await Promise.all([
    board.api.get(`/roster?${range}`),
    board.api.get("/roster/coverage?hours=24"),
    board.api.get("/alert-policies/coverage?hours=24"),
  ]);
  Object.assign(board.state, { roster, coverage, alertCoverage });
  renderOnCall(board);
}

export async function loadFaults(board) {
  board.state.faults = (await board.api.get("/board/faults")).faults;
  renderFaults(board);
}

export async function loadRisk(board) {
  try {
    board.state.atRisk = await board.api.get("/board/at-risk");
  } catch (error) {
    board.state.atRisk = null;
    if (!(error instanceof ApiError)) throw error;
  }
  renderRisk(board);
}

/** Letters from the GP and the hospital I have not read, on my cases as key or contact person. */
export async function loadLetters(board) {
  const unread = await board.api.get("/correspondence/unread");
  board.state.unreadByCase = new Map(unread.cases.map((c) => [c.case_id, c.unread]));
  renderCaseTabs(board);
  const badge = document.getElementById("letters");
  badge.textContent = `✉ ${unread.total}`;
  badge.title = t("letters.unread", { count: unread.total });
  badge.hidden = unread.total === 0;
}

/** What each kind of event makes the board read again; a role reads only what it may see. */
export const READERS = {
  alerts: loadAlerts,
  visits: (board) => (MANAGERS.has(roleOf(board)) ? loadVisits(board) : null),
  roster: (board) => (MUNICIPAL.has(roleOf(board)) ? loadRoster(board) : null),
  risk: loadRisk,
  letters: (board) => (MUNICIPAL.has(roleOf(board)) ? loadLetters(board) : null),
  case: (board) => (board.state.caseOpen ? loadCase(board, board.state.caseOpen) : null),
};
