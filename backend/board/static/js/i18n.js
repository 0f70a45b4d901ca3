// Every word the board shows, one dictionary per language (strings-da.js, strings-en.js):
// switching language is one lookup. Danish is the default.

import { da } from "./strings-da.js";
import { en } from "./strings-en.js";

const dictionaries = { da, en };
let language = "da";

export function setLanguage(lang) {
  language = dictionaries[lang] ? lang : "da";
  document.documentElement.lang = language;
}

export function currentLanguage() {
  return language;
}

/** The text for `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = dictionaries[language][key] ?? dictionaries.da[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A word for a code (`reason.pain`), falling back to the code itself rather than to nothing. */
export function word(prefix, code) {
  if (code == null) return "";
  const key = `${prefix}.${code}`;
  const text = t(key);
  return text === key ? String(code).replaceAll("_", " ") : text;
}

/** Fill the elements of the static page marked with data-i18n (and data-i18n-label for aria-label). */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  document.title = t("app.title");
}

const LOCALES = { da: "da-DK", en: "en-GB" };
const ZONE = "Europe/Copenhagen"; // shifts and times of day are Copenhagen's, wherever the screen is

export function formatTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(LOCALES[language], { timeZone: ZONE, hour: "2-digit", minute: "2-digit" }).format(
    new Date(iso),
  );
}

export function formatDateTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(LOCALES[language], {
    timeZone: ZONE,
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
}

export function formatDate(isoDate) {
  if (!isoDate) return "";
  // A plain date (YYYY-MM-DD) is a calendar day: format it at noon UTC so no zone moves it.
  const at = isoDate.length === 10 ? `${isoDate}T12:00:00Z` : isoDate;
  return new Intl.DateTimeFormat(LOCALES[language], { timeZone: ZONE, day: "numeric", month: "short", year: "numeric" })
    .format(new Date(at));
}

export function formatNumber(value, digits = 0) {
  return new Intl.NumberFormat(LOCALES[language], { maximumFractionDigits: digits }).format(value);
}
