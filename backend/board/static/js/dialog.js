// One modal form for every action that needs input (hand over, resolve, raise, decide, reassign).
// The native <dialog> gives focus trapping and Escape to cancel for free.

import { newKey } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

/**
 * Show a form; `submit(values, key)` does the action. When it throws, its message is shown in the
 * form and the form stays open; trying again with unchanged values reuses the same
 * Idempotency-Key (the same action retried), changed values get a new one.
 *
 * fields: [{name, label, type: "select"|"textarea"|"search-select", options: [{value, label}],
 *           required, value}]
 * Resolves to the submit's result, or null when cancelled.
 */
export function ask({ title, fields, submitLabel, submit, dangerous = false }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "dialog-error", role: "alert", hidden: true });
    const controls = fields.map(field);
    const button = h("button", { type: "submit", class: dangerous ? "btn btn-danger" : "btn btn-primary" }, submitLabel);
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      controls.map((c) => c.element),
      error,
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "btn", onclick: () => dialog.close() }, t("cancel")),
        button,
      ),
    );
    const dialog = h("dialog", { class: "dialog" }, form);
    let result = null;
    let lastValues = null;
    let key = newKey();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(controls.map((c) => [c.name, c.value()]));
      const missing = controls.find((c) => c.required && !c.value());
      if (missing) {
        showError(error, t("dlg.required", { field: missing.label }));
        missing.focus();
        return;
      }
      const signature = JSON.stringify(values);
      if (lastValues !== null && signature !== lastValues) key = newKey();
      lastValues = signature;
      button.disabled = true;
      try {
        result = await submit(values, key);
        dialog.close();
      } catch (failure) {
        showError(error, failure.message);
      } finally {
        button.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    controls[0]?.focus();
  });
}

function showError(element, message) {
  element.textContent = message;
  element.hidden = false;
}

function field(spec) {
  const id = `f-${spec.name}-${Math.random().toString(36).slice(2, 8)}`;
  const label = h("label", { for: id }, spec.label);
  if (spec.type === "textarea") {
    const input = h("textarea", { id, name: spec.name, rows: 3, maxlength: 2000 });
    return control(spec, h("div", { class: "field" }, label, input), () => input.value.trim() || null, input);
  }
  if (spec.type === "search-select") return searchSelect(spec, id, label);
  const select = h(
    "select",
    { id, name: spec.name, required: spec.required },
    spec.required && spec.value == null ? h("option", { value: "" }, "—") : null,
    spec.options.map((o) => h("option", { value: o.value, selected: o.value === spec.value }, o.label)),
  );
  return control(spec, h("div", { class: "field" }, label, select), () => select.value || null, select);
}

/** A search box over a long list (the cases): typing narrows the list below it. */
function searchSelect(spec, id, label) {
  const search = h("input", { type: "search", id, placeholder: spec.placeholder || "", autocomplete: "off" });
  const select = h("select", { name: spec.name, size: 6, "aria-label": spec.label, class: "search-list" });
  const fill = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = spec.options.filter((o) => !needle || o.label.toLowerCase().includes(needle)).slice(0, 200);
    select.replaceChildren(...shown.map((o) => h("option", { value: o.value }, o.label)));
    if (shown.length) select.selectedIndex = 0;
  };
  search.addEventListener("input", fill);
  // Arrow down from the search box goes into the list, as in any combobox.
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      select.focus();
    }
  });
  fill();
  return control(spec, h("div", { class: "field" }, label, search, select), () => select.value || null, search);
}

function control(spec, element, value, focusable) {
  return { name: spec.name, label: spec.label, required: spec.required, element, value, focus: () => focusable.focus() };
}
