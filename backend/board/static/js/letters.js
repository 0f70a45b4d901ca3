// A case's correspondence with the GP and the hospital: its threads, received and sent, each sent
// letter with its state (sending, sent, acknowledged, or failed with why in words), the unread
// ones marked until their thread is opened, and the way to write or reply (compose.js). A letter's
// state change arrives as an event and re-reads the threads; the form being written stays as it is.

import { openCompose } from "./compose.js";
import { byId, h, render } from "./dom.js";
import { formatDateTime, t, word } from "./i18n.js";
import { MUNICIPAL, roleOf } from "./reads.js";

const openThreads = new Set(); // the threads the user opened stay open across live re-reads

/** The view in the case panel's body: actions, the form (when writing) and the threads. */
export function renderLetters(board) {
  let threads = byId("letters-threads");
  if (!threads) {
    threads = h("div", { id: "letters-threads" });
    render(byId("case-body"), h("div", { id: "letters-actions", class: "letters-actions" }), h("div", { id: "letters-compose" }), threads);
    openThreads.clear();
  }
  render(byId("letters-actions"), actions(board));
  renderThreads(board, threads);
}

/** How many received letters of the open case I have not read (the tab shows it). */
export function unreadOnCase(board) {
  const letters = board.state.caseLetters;
  if (letters) return letters.threads.reduce((n, th) => n + th.letters.filter((l) => l.unread).length, 0);
  return board.state.unreadByCase?.get(board.state.caseOpen) ?? 0;
}

function canWrite(board) {
  return MUNICIPAL.has(roleOf(board));
}

function actions(board) {
  if (!canWrite(board)) return null;
  const write = (recipient, key) =>
    h("button", { type: "button", class: "btn", dataset: { focusKey: `write:${recipient}` }, onclick: () => openCompose(board, { recipient }) }, t(key));
  return [write("gp", "letters.toGp"), write("hospital_department", "letters.toHospital")];
}

function renderThreads(board, box) {
  const letters = board.state.caseLetters;
  if (!letters) return render(box, h("p", { class: "empty" }, t("loading")));
  if (!letters.threads.length) return render(box, h("p", { class: "empty" }, t("letters.none")));
  render(box, h("ol", { class: "threads" }, letters.threads.map((th) => thread(board, th))));
}

function thread(board, th) {
  const unread = th.letters.filter((l) => l.unread).length;
  const latest = th.letters[th.letters.length - 1];
  const lastSent = th.letters.filter((l) => l.direction === "out").at(-1);
  const details = h(
    "details",
    { class: "thread", open: openThreads.has(th.thread_key), dataset: { threadKey: th.thread_key } },
    h(
      "summary",
      { dataset: { focusKey: `th:${th.thread_key}` } },
      unread ? h("span", { class: "unread" }, t("letters.unreadMark", { n: unread })) : null,
      h("strong", {}, th.topic ?? word("category", th.category)),
      h("span", { class: "muted" }, ` · ${word("category", th.category)} · ${formatDateTime(latest.written_at)} `),
      lastSent ? state(lastSent) : null,
    ),
    h("ol", { class: "thread-letters" }, th.letters.map((letter) => item(board, th, letter))),
    canWrite(board)
      ? h(
          "button",
          { type: "button", class: "btn btn-small", dataset: { focusKey: `reply:${th.thread_key}` }, onclick: () => openCompose(board, { replyTo: latest, thread: th }) },
          t("letters.reply"),
        )
      : null,
  );
  details.addEventListener("toggle", () => {
    if (!details.open) return openThreads.delete(th.thread_key);
    openThreads.add(th.thread_key);
    markRead(board, th);
  });
  return details;
}

function item(board, th, letter) {
  const party = letter.direction === "in" ? letter.sender_name : letter.recipient_name;
  const segments = th.segments.filter((s) => s.letter_id === letter.id);
  return h(
    "li",
    { class: `letter letter-${letter.direction}`, dataset: { letterId: letter.id, state: letter.status } },
    h(
      "p",
      { class: "letter-head" },
      h("span", { class: "tl-when" }, formatDateTime(letter.written_at)),
      ` ${t(`letter.${letter.direction}`)} ${party ?? ""} `,
      letter.direction === "out" ? state(letter) : null,
      letter.unread ? h("span", { class: "unread" }, t("letters.unreadMark", { n: 1 })) : null,
    ),
    letter.status === "failed" ? h("p", { class: "letter-failure" }, `⚠ ${failure(letter)}`) : null,
    segments.map((s) => segment(board, s)),
  );
}

function state(letter) {
  return h("span", { class: `letter-state state-${letter.status}` }, word("letter", letter.status));
}

/** Why a letter failed, in words the writer can act on (the receiver's own text as a last resort). */
function failure(letter) {
  switch (letter.failure_code) {
    case "refused":
      return t("letters.failure.refused", { why: word("refusal", letter.refusal_code) });
    case "no_acknowledgement":
    case "not_delivered":
      return t(`letters.failure.${letter.failure_code}`, { n: letter.sends });
    default:
      return letter.failure_reason ?? "";
  }
}

function segment(board, s) {
  const signature = [s.author_name, s.author_role, s.organisation_name, s.author_phone ? `☎ ${s.author_phone}` : null];
  const by = h("p", { class: "muted" }, signature.filter(Boolean).join(" · "));
  if (!s.attachment) return h("div", { class: "segment" }, h("p", { class: "letter-text" }, s.text ?? ""), by);
  const a = s.attachment;
  return h(
    "div",
    { class: "segment" },
    h("span", {}, `📎 ${a.title ?? ""} (${a.content_type ?? ""})`),
    a.has_content ? h("button", { type: "button", class: "btn btn-small", onclick: () => download(board, s) }, t("letters.download")) : null,
  );
}

async function download(board, s) {
  const response = await board.run(() => board.api.send("GET", `/cases/${board.state.caseOpen}/correspondence/attachments/${s.id}`, null, null, true));
  if (!response) return;
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: s.attachment.title || "bilag" });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Opening a thread reads its letters: each unread one is marked read, and the badges follow. */
async function markRead(board, th) {
  const caseId = board.state.caseOpen;
  const unread = th.letters.filter((l) => l.unread);
  if (!unread.length) return;
  for (const letter of unread) {
    const done = await board.run(() => board.api.post(`/cases/${caseId}/correspondence/${letter.id}/read`));
    if (done && board.state.caseOpen === caseId) letter.unread = false;
  }
  if (board.state.caseOpen !== caseId) return;
  renderLetters(board);
  board.renderCaseTabs();
  board.refresh("letters");
}
