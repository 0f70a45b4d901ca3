// The board: log in, load what the role may see, then follow the live feed. Each event re-reads
// only what it concerns (an alert, the visits, the roster, the risk list, the open case), a
// burst of events once; nothing is polled and the page is never reloaded.

import { renderAlerts, raiseForCase, tickAlerts } from "./alerts.js";
import { Api, ApiError, refused } from "./api.js";
import { closeCase, openCase, renderCase, renderCaseTabs, showCaseView } from "./casepanel.js";
import { composing } from "./compose.js";
import { byId } from "./dom.js";
import { collectFederated, offerProviders } from "./federated.js";
import { currentLanguage, formatTime, setLanguage, t, translatePage } from "./i18n.js";
import { downloadCsv, loadIndicators, renderIndicators, setUpIndicators } from "./indicators.js";
import { CLOSE_FORBIDDEN, LiveFeed } from "./live.js";
import { renderOnCall, renderRisk, renderUnitCases, renderVisits } from "./panels.js";
import {
  loadAlert,
  loadCases,
  loadFaults,
  loadStaff,
  loadVisits,
  lookUpCase,
  MANAGERS,
  MUNICIPAL,
  READERS,
  roleOf,
} from "./reads.js";

const PREFS_KEY = "lindra.board.prefs"; // language and theme only: no data is kept in the browser
const BURST_MS = 150; // events come in bursts (a tier fires, pushes go out): one read per burst
const FULL_RELOAD_AFTER_MS = 10 * 60 * 1000; // after a long outage read everything, not just the replay
const READY_WAIT_MS = 3000;

const state = {
  user: null,
  view: "board",
  staff: new Map(),
  orgs: new Map(),
  cases: new Map(),
  alerts: new Map(), // id -> {alert, detail}
  visits: null,
  visitsShift: "tonight",
  roster: null,
  coverage: null,
  alertCoverage: null,
  atRisk: undefined, // undefined: not loaded; null: not available
  indicators: null,
  caseOpen: null,
  casePage: null,
  caseView: "overview", // or "letters": the case's correspondence
  caseLetters: null,
  unreadByCase: new Map(), // case id -> received letters I have not read
  disconnectedAt: null,
};

const api = new Api({
  onTokens: (token) => live.renew(token),
  onLoggedOut: () => leaveBoard(t("login.expired")),
});

const live = new LiveFeed({
  getToken: () => api.access,
  onEvent: followEvent,
  onReady: caughtUp,
  onState: showConnection,
  onAuthLost: resumeFeed,
});

/** The socket said the token is no good (a tab asleep in the background may miss its renewal):
 * renew and reconnect from the last event seen; log in again only if the renewal is refused. */
async function resumeFeed(code) {
  if (!state.user) return;
  if (code === CLOSE_FORBIDDEN) return leaveBoard(t("login.expired"));
  try {
    await api.refreshNow();
    live.start();
  } catch (error) {
    if (refused(error)) leaveBoard(t("login.expired"));
    else setTimeout(() => resumeFeed(code), 5000);
  }
}

const role = () => roleOf(board);

// ---- what the panels and dialogs use -------------------------------------------------------------

const board = {
  api,
  state,
  live,
  caseLabel(caseId) {
    const known = state.cases.get(caseId);
    if (known) return { name: known.name, cpr: known.cpr_masked };
    lookUpCase(board, caseId);
    return { name: "…", cpr: "" };
  },
  staffName(userId) {
    if (!userId) return "–";
    return state.staff.get(userId)?.full_name ?? t("unknown");
  },
  districtName(id) {
    return state.orgs.get(id)?.name ?? "";
  },
  districts() {
    return [...state.orgs.values()].filter((o) => o.kind === "district").sort((a, b) => a.name.localeCompare(b.name));
  },
  openCase(caseId) {
    return openCase(board, caseId);
  },
  /** An action's answer updates the row at once; the detail (whom it called) is read again. */
  alertChanged(alert) {
    const known = state.alerts.get(alert.id);
    state.alerts.set(alert.id, { alert, detail: known?.detail ?? null });
    renderAlerts(board);
    readAlertSoon(alert.id);
  },
  refresh(panel) {
    readSoon(panel);
  },
  renderAll() {
    renderAll();
  },
  renderCaseTabs() {
    renderCaseTabs(board);
  },
  /** Run a user action; a refusal is shown with the server's own words (the problem's detail). */
  async run(action, then = null) {
    try {
      const result = await action();
      if (then) then(result);
      return result;
    } catch (error) {
      toast(error instanceof ApiError ? error.message : t("error.network"));
      if (error instanceof ApiError && error.status === 409) readSoon("alerts"); // someone else was first
      return null;
    }
  },
};

// ---- reading everything at once -----------------------------------------------------------------

async function loadAll() {
  try {
    await loadStaff(board);
    await loadCases(board);
  } catch (error) {
    toast(error.message);
  }
  renderAll();
  const panels = ["alerts", "visits", "roster", "risk", "letters"];
  await Promise.all(panels.map((panel) => safely(() => READERS[panel](board))));
  if (role() === "palliative_unit") renderUnitCases(board);
}

async function safely(read) {
  try {
    await read();
  } catch (error) {
    toast(error instanceof ApiError ? error.message : t("error.network"));
  }
}

// ---- following the feed --------------------------------------------------------------------------

const pendingPanels = new Set();
const pendingAlerts = new Set();
let burstTimer = null;

function readSoon(panel) {
  pendingPanels.add(panel);
  armBurst();
}

function readAlertSoon(alertId) {
  pendingAlerts.add(alertId);
  armBurst();
}

function armBurst() {
  if (!burstTimer) burstTimer = setTimeout(readBurst, BURST_MS);
}

async function readBurst() {
  burstTimer = null;
  const panels = [...pendingPanels];
  const alerts = panels.includes("alerts") ? [] : [...pendingAlerts]; // the whole list covers each one
  pendingPanels.clear();
  pendingAlerts.clear();
  await Promise.all([
    ...panels.map((panel) => safely(() => READERS[panel](board))),
    ...alerts.map((id) => safely(() => loadAlert(board, id))),
  ]);
}

function followEvent(event) {
  const kind = event.kind;
  if (kind.startsWith("alert.") && event.alert_id) readAlertSoon(event.alert_id);
  else if (kind.startsWith("visit.")) {
    readSoon("visits");
    if (kind === "visit.missed") readSoon("risk");
  } else if (kind === "roster.changed") readSoon("roster");
  else if (kind.startsWith("case.correspondence")) readSoon("letters");
  else if (kind.startsWith("case.")) readSoon("risk");
  if (event.case_id && event.case_id === state.caseOpen) readSoon("case");
}

let firstLoad = null;

function caughtUp({ reconnected, complete }) {
  if (!firstLoad) {
    firstLoad = loadAll();
    return;
  }
  // A short outage: the replay before `ready` brought every event missed. A long one may have
  // outrun the replay's window: read everything.
  const long = state.disconnectedAt && Date.now() - state.disconnectedAt > FULL_RELOAD_AFTER_MS;
  if (!complete || (reconnected && long)) loadAll();
  state.disconnectedAt = null;
}

function showConnection(connection, since) {
  if (connection !== "connected" && !state.disconnectedAt) state.disconnectedAt = Date.now();
  const el = byId("conn");
  el.dataset.state = connection;
  const text = t(`conn.${connection}`);
  byId("conn-text").textContent =
    connection === "connected" ? text : `${text} ${t("conn.since", { time: formatTime(since.toISOString()) })}`;
}

// ---- rendering and the page's own controls -------------------------------------------------------

function renderAll() {
  if (!state.user) return;
  renderAlerts(board);
  if (MANAGERS.has(role())) renderVisits(board);
  if (MUNICIPAL.has(role())) renderOnCall(board);
  renderRisk(board);
  if (role() === "palliative_unit") renderUnitCases(board);
  renderCase(board);
  if (state.view === "indicators") {
    setUpIndicators(board);
    renderIndicators(board);
  }
}

function configureForRole() {
  const r = role();
  const unit = r === "palliative_unit";
  byId("subtitle").dataset.i18n = unit ? "app.unitSubtitle" : "app.subtitle";
  byId("alerts-title-text").dataset.i18n = unit ? "alerts.unitTitle" : "alerts.title";
  byId("raise").hidden = !MUNICIPAL.has(r);
  byId("visits").hidden = !MANAGERS.has(r);
  byId("oncall").hidden = !MUNICIPAL.has(r);
  byId("unit-cases").hidden = !unit;
  byId("views").hidden = !(MANAGERS.has(r) || r === "admin");
  byId("board-view").classList.toggle("unit", unit);
  translatePage();
}

function showView(view) {
  state.view = view;
  byId("board-view").hidden = view !== "board";
  byId("indicators-view").hidden = view !== "indicators";
  for (const tab of document.querySelectorAll("#views .tab")) tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
  if (view === "indicators") {
    setUpIndicators(board);
    if (!state.indicators) loadIndicators(board);
  }
}

let toastTimer = null;

function toast(message) {
  const el = byId("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 8000);
}

function preferences() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY)) || {};
  } catch {
    return {};
  }
}

function savePreferences(change) {
  localStorage.setItem(PREFS_KEY, JSON.stringify({ ...preferences(), ...change }));
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  byId("theme").textContent = theme === "dark" ? t("theme.toLight") : t("theme.toDark");
}

function applyLanguage(lang) {
  setLanguage(lang);
  translatePage();
  const other = byId("lang");
  other.textContent = t("lang.switch");
  other.lang = lang === "da" ? "en" : "da";
  other.setAttribute("aria-label", t("lang.switchLabel"));
  applyTheme(document.documentElement.dataset.theme);
  if (state.user) {
    byId("who").textContent = state.user.full_name;
    showConnection(live.state, live.since || new Date());
    renderAll();
  }
}

let ticks = 0;
const SLOW_TICKS = 60; // every 30 s: visits turn overdue and shifts change with time alone, without an event

function tick() {
  byId("clock").textContent = new Intl.DateTimeFormat(currentLanguage() === "da" ? "da-DK" : "en-GB", {
    timeZone: "Europe/Copenhagen",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(new Date(api.serverNow()));
  if (!state.user) return;
  tickAlerts(board);
  ticks += 1;
  if (ticks % SLOW_TICKS === 0) {
    if (MANAGERS.has(role())) renderVisits(board);
    if (MUNICIPAL.has(role())) renderOnCall(board);
  }
}

// ---- logging in and out --------------------------------------------------------------------------

function showLogin(note = "") {
  byId("board-view").hidden = true;
  byId("indicators-view").hidden = true;
  byId("views").hidden = true;
  byId("logout").hidden = true;
  byId("conn").hidden = true;
  byId("who").textContent = "";
  byId("login-view").hidden = false;
  byId("login-note").textContent = note;
  byId("login-note").hidden = !note;
  byId("login-email").focus();
}

function enterBoard(user) {
  state.user = user;
  byId("login-view").hidden = true;
  byId("logout").hidden = false;
  byId("conn").hidden = user.role === "admin";
  byId("who").textContent = user.full_name;
  configureForRole();
  if (user.role === "admin") {
    // Administrators read no health records (the feed refuses them): the figures only.
    loadStaff(board).then(() => showView("indicators"), (error) => toast(error.message));
    return;
  }
  showView("board");
  renderAll();
  watchFaults(user);
  firstLoad = null;
  live.start();
  // Should the feed be slow to come up, show the board anyway; `ready` will bring what changed.
  setTimeout(() => {
    if (!firstLoad && state.user === user) firstLoad = loadAll();
  }, READY_WAIT_MS);
}

function leaveBoard(note = "") {
  live.stop();
  closeCase(board);
  Object.assign(state, {
    user: null,
    alerts: new Map(),
    cases: new Map(),
    visits: null,
    roster: null,
    atRisk: undefined,
    indicators: null,
    disconnectedAt: null,
  });
  live.lastEventId = null;
  showLogin(note);
}

/** Run a sign-in form's call: the button busy meanwhile, the refusal shown in the form's own words. */
async function signInWith(form, busyText, call) {
  const button = form.querySelector("button[type=submit]");
  const error = form.querySelector("[role=alert]");
  const idleText = button.textContent;
  error.hidden = true;
  button.disabled = true;
  button.textContent = busyText;
  try {
    const user = await call();
    if (user) {
      form.querySelectorAll("input").forEach((input) => (input.value = ""));
      resetLoginForm();
      enterBoard(user);
    }
  } catch (failure) {
    const shown = await answerRefusal(failure);
    if (shown !== null) {
      error.textContent = shown;
      error.hidden = false;
    }
  } finally {
    button.disabled = false;
    button.textContent = idleText;
  }
}

/** What a refused sign-in asks of the user, in her words; null when another form took over. */
async function answerRefusal(failure) {
  if (!(failure instanceof ApiError)) return t("error.network");
  switch (failure.rule) {
    case "password_change_required":
      return revealField("login-new-field", "login-new-password", t("login.mustChange"));
    case "second_factor_required":
      return revealField("login-otp-field", "login-otp", t("login.needCode"));
    case "password_sign_in_off":
      return t("login.useProvider");
    case "second_factor_enrolment_required":
      if (!byId("code-form").hidden) {
        showLoginForm("login-form");
        byId("login-note").textContent = t("code.thenSetUp");
        byId("login-note").hidden = false;
        return null;
      }
      try {
        await startSetup();
        return null;
      } catch (setupFailure) {
        return setupFailure instanceof ApiError ? setupFailure.message : t("error.network");
      }
    default:
      return failure.message;
  }
}

function revealField(fieldId, inputId, message) {
  byId(fieldId).hidden = false;
  byId(inputId).required = true;
  byId(inputId).focus();
  return message;
}

function resetLoginForm() {
  for (const [field, input] of [["login-new-field", "login-new-password"], ["login-otp-field", "login-otp"]]) {
    byId(field).hidden = true;
    byId(input).required = false;
  }
  showLoginForm("login-form");
}

/** An admin or coordinator without an authenticator app: show her a new secret to add to one. */
async function startSetup() {
  const email = byId("login-email").value.trim();
  const enrolment = await api.enrolSecondFactor(email, byId("login-password").value);
  byId("factor-secret").textContent = enrolment.secret;
  byId("factor-uri").href = enrolment.otpauth_uri;
  showLoginForm("factor-form");
}

function submitFactor(event) {
  event.preventDefault();
  return signInWith(event.target, t("factor.busy"), async () => {
    const confirmed = await api.confirmSecondFactor(
      byId("login-email").value.trim(),
      byId("login-password").value,
      byId("factor-otp").value.trim(),
    );
    byId("factor-otp").value = "";
    byId("factor-secret").textContent = "";
    const list = byId("recovery-codes");
    list.replaceChildren(
      ...confirmed.recoveryCodes.map((code) => {
        const item = document.createElement("li");
        item.textContent = code;
        return item;
      }),
    );
    pendingUser = confirmed.user;
    showLoginForm("recovery-form");
    return null;
  });
}

/** The recovery codes are saved: go on to the board, or back to logging in with a new password. */
function leaveRecoveryCodes(event) {
  event.preventDefault();
  byId("recovery-codes").replaceChildren();
  const user = pendingUser;
  pendingUser = null;
  byId("login-password").value = "";
  resetLoginForm();
  if (user) return enterBoard(user);
  byId("login-note").textContent = t("recovery.thenLogIn");
  byId("login-note").hidden = false;
}

function submitLogin(event) {
  event.preventDefault();
  const newPassword = byId("login-new-field").hidden ? null : byId("login-new-password").value;
  const otp = byId("login-otp-field").hidden ? null : byId("login-otp").value.trim();
  return signInWith(event.target, t("login.busy"), () =>
    api.login(byId("login-email").value.trim(), byId("login-password").value, newPassword, otp),
  );
}

function submitCode(event) {
  event.preventDefault();
  return signInWith(event.target, t("code.busy"), () =>
    api.choosePassword(byId("code-code").value.trim(), byId("code-password").value),
  );
}

const LOGIN_FORMS = ["login-form", "code-form", "factor-form", "recovery-form"];
// The user an enrolment signed in, while she reads her recovery codes.
let pendingUser = null;

/** The login view shows one form: the password login, redeeming a code from a mail, setting up
 * the authenticator app, or its recovery codes. */
function showLoginForm(id) {
  for (const form of LOGIN_FORMS) byId(form).hidden = form !== id;
  byId(id).querySelector("input, button")?.focus();
}

function wireControls() {
  byId("login-form").addEventListener("submit", submitLogin);
  byId("code-form").addEventListener("submit", submitCode);
  byId("factor-form").addEventListener("submit", submitFactor);
  byId("recovery-form").addEventListener("submit", leaveRecoveryCodes);
  byId("login-have-code").addEventListener("click", () => showLoginForm("code-form"));
  byId("code-back").addEventListener("click", () => showLoginForm("login-form"));
  byId("logout").addEventListener("click", async () => {
    await api.logout();
    leaveBoard();
  });
  byId("lang").addEventListener("click", () => {
    const lang = currentLanguage() === "da" ? "en" : "da";
    savePreferences({ lang });
    applyLanguage(lang);
  });
  byId("theme").addEventListener("click", () => {
    const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    savePreferences({ theme });
    applyTheme(theme);
  });
  byId("raise").addEventListener("click", () => raiseForCase(board));
  byId("visits-toggle").addEventListener("click", () => {
    state.visitsShift = state.visitsShift === "tonight" ? "current" : "tonight";
    state.visits = null;
    renderVisits(board);
    safely(() => loadVisits(board));
  });
  byId("case-close").addEventListener("click", () => closeCase(board));
  document.addEventListener("keydown", (event) => {
    // A letter being written is not thrown away by a stray Escape: Cancel or Close ends it.
    if (event.key === "Escape" && !byId("case-panel").hidden && !document.querySelector("dialog[open]") && !composing()) {
      closeCase(board);
    }
  });
  for (const tab of document.querySelectorAll("#case-views .tab")) {
    tab.addEventListener("click", () => showCaseView(board, tab.dataset.caseView));
  }
  for (const tab of document.querySelectorAll("#views .tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  byId("ind-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadIndicators(board);
  });
  byId("ind-csv").addEventListener("click", () => downloadCsv(board));
}

// Lindra's own faults (a dead worker, failing gateways): asked every few seconds rather than
// pushed, since the feed's events come from the very parts that may have failed.
const FAULTS_EVERY_MS = 5000;

async function watchFaults(user) {
  if (state.user !== user) return;
  await safely(() => loadFaults(board));
  setTimeout(() => watchFaults(user), FAULTS_EVERY_MS);
}

async function start() {
  const prefs = preferences();
  document.documentElement.dataset.theme = prefs.theme === "light" ? "light" : "dark";
  applyLanguage(prefs.lang === "en" ? "en" : "da");
  wireControls();
  showConnection("offline", new Date());
  setInterval(tick, 500);
  tick();
  offerProviders(api);
  const user = (await collectFederated(api)) ?? (await api.resume());
  if (user) enterBoard(user);
  else showLogin(byId("login-error").hidden ? "" : byId("login-error").textContent);
}

// For the browser tests and for a curious person at the console: state, not controls.
window.lindraBoard = { state, live, api };

start();
