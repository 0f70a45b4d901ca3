// Writing from a case: a letter to the GP or the hospital department that begins from a draft
// Lindra fills in from the case (closing note, status note, notice of a death at home), or a reply
// in a thread; editable before sending, attachments optional. A refusal is shown beside the field
// it names, in words the writer can act on. Sending again with nothing changed reuses the
// Idempotency-Key, so a retry after a lost answer sends the letter once.

import { ApiError, newKey } from "./api.js";
import { byId, h, render } from "./dom.js";
import { t, word } from "./i18n.js";

const KINDS = ["closing_note", "status_note", "death_notice"];
const CATEGORIES = [
  "carecoordination",
  "nursing",
  "medicine",
  "decease",
  "examination-results",
  "regarding-referral",
  "extended-care-responsibility",
  "other",
];
const ACCEPT = "application/pdf,image/jpeg,image/png,image/gif,image/tiff";
const TEXT_MAX = 20000;
const TOPIC_MAX = 60;

/** Whether a letter is being written (closing the case panel would lose it). */
export function composing() {
  return Boolean(byId("letter-form"));
}

/** The form for a new letter to `recipient` ("gp" | "hospital_department"), or a reply to `replyTo`. */
export function openCompose(board, { recipient = null, replyTo = null }) {
  const caseId = board.state.caseOpen;
  const fields = {};
  const formError = h("p", { class: "dialog-error", role: "alert", hidden: true });

  const field = (name, labelKey, input, hint = null) => {
    input.id = `letter-${name}`;
    input.name = name;
    const error = h("p", { class: "field-error", id: `letter-${name}-error`, role: "alert", hidden: true });
    input.setAttribute("aria-describedby", error.id);
    fields[name] = { input, error };
    return h("div", { class: "field", dataset: { field: name } }, h("label", { for: input.id }, t(labelKey)), input, hint ? h("p", { class: "muted" }, hint) : null, error);
  };
  const choice = (options, value) => h("select", {}, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));

  const parts = [];
  if (replyTo) {
    const party = replyTo.direction === "in" ? replyTo.sender_name : replyTo.recipient_name;
    parts.push(h("h3", {}, t("letters.replyTo", { name: party ?? "" })));
  } else {
    parts.push(h("h3", {}, t("letters.newTitle")));
    parts.push(field("recipient", "letters.recipient", choice(["gp", "hospital_department"].map((r) => [r, t(`letters.recipient.${r}`)]), recipient)));
    const kinds = [["", t("letters.kind.blank")], ...KINDS.map((k) => [k, t(`letters.kind.${k}`)])];
    parts.push(field("kind", "letters.kind", choice(kinds, "")));
    parts.push(field("category", "letters.category", choice(CATEGORIES.map((c) => [c, word("category", c)]), "carecoordination")));
    parts.push(field("topic", "letters.topic", h("input", { maxlength: TOPIC_MAX, autocomplete: "off" })));
  }
  parts.push(field("text", "letters.text", h("textarea", { rows: 12, maxlength: TEXT_MAX, required: true })));
  parts.push(field("attachments", "letters.attachments", h("input", { type: "file", multiple: true, accept: ACCEPT })));
  parts.push(field("contact_phone", "letters.phone", h("input", { type: "tel", autocomplete: "tel", maxlength: 32 }), t("letters.phoneHint")));

  const send = h("button", { type: "submit", class: "btn btn-primary" }, t("letters.send"));
  const form = h(
    "form",
    { id: "letter-form", class: "letter-form", novalidate: true },
    parts,
    formError,
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "btn", onclick: () => render(byId("letters-compose")) }, t("cancel")), send),
  );
  if (fields.kind) fields.kind.input.addEventListener("change", () => fillDraft(board, caseId, fields));

  let key = newKey();
  let lastSent = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(fields, formError);
    send.disabled = true;
    send.textContent = t("letters.sendingNow");
    try {
      const body = await letterBody(fields, replyTo);
      const signature = JSON.stringify(body);
      if (lastSent !== null && signature !== lastSent) key = newKey(); // changed: a new letter
      lastSent = signature;
      await board.api.send("POST", `/cases/${caseId}/correspondence`, body, key);
      render(byId("letters-compose"));
      board.refresh("case");
    } catch (error) {
      showProblem(error, fields, formError);
    } finally {
      send.disabled = false;
      send.textContent = t("letters.send");
    }
  });

  render(byId("letters-compose"), form);
  (fields.kind ?? fields.text).input.focus();
}

/** The chosen draft, filled in from the case, into the fields (to edit before sending). */
async function fillDraft(board, caseId, fields) {
  const kind = fields.kind.input.value;
  clearErrors(fields);
  if (!kind) return;
  const recipient = fields.recipient.input.value;
  fields.text.input.placeholder = t("letters.drafting");
  try {
    const draft = await board.api.get(`/cases/${caseId}/correspondence/draft?kind=${kind}&recipient=${recipient}`);
    fields.category.input.value = draft.category;
    fields.topic.input.value = draft.topic;
    fields.text.input.value = draft.text;
    fields.text.input.focus();
  } catch (error) {
    showProblem(error, fields, null, "kind");
  } finally {
    fields.text.input.placeholder = "";
  }
}

async function letterBody(fields, replyTo) {
  const value = (name) => fields[name]?.input.value.trim() || null;
  const body = { text: fields.text.input.value, attachments: await attachments(fields.attachments.input.files) };
  if (value("contact_phone")) body.contact_phone = value("contact_phone");
  if (replyTo) return { ...body, replies_to: replyTo.id };
  return { ...body, recipient: value("recipient"), category: value("category"), topic: value("topic"), kind: value("kind") };
}

async function attachments(files) {
  return Promise.all(
    [...files].map(async (file) => {
      const bytes = new Uint8Array(await file.arrayBuffer());
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { title: file.name.slice(0, 200), content_type: file.type || "application/octet-stream", data: btoa(binary) };
    }),
  );
}

function clearErrors(fields, formError = null) {
  for (const { error } of Object.values(fields)) error.hidden = true;
  if (formError) formError.hidden = true;
}

/** The refusal beside the field it names (attachments[0].data is the attachments field), in the
 * writer's words where the board knows them, else the server's own. */
function showProblem(error, fields, formError, fallbackField = null) {
  const named = error instanceof ApiError ? error.problem.field : null;
  const target = fields[named] ?? fields[String(named).split(/[.[]/)[0]] ?? fields[fallbackField];
  const message = error instanceof ApiError ? problemText(error, fields) : t("error.network");
  const shown = target?.error ?? formError;
  shown.textContent = message;
  shown.hidden = false;
  target?.input.focus();
}

function problemText(error, fields) {
  const field = error.problem.field ?? "";
  if (error.rule === "no_death_at_home") return t("letters.err.noDeath");
  if (error.rule === "sender_sor") return t("letters.err.senderSor");
  if (error.rule === "no_broker") return t("letters.err.noBroker");
  if (error.rule === "recipient_sor") {
    return fields.recipient ? t(`letters.err.noSor.${fields.recipient.input.value}`) : t("letters.err.replyNoSor");
  }
  if (field === "replies_to") return t("letters.err.thread");
  if (field === "contact_phone") return t("letters.err.phone");
  if (field === "text") return t("letters.err.text");
  if (field === "topic") return t("letters.err.topic");
  if (field.startsWith("attachments")) return error.status === 413 ? t("letters.err.attachmentSize") : t("letters.err.attachmentType");
  return error.message;
}
