// Docs: docs/live.md — numbers and times in the page's language (<html lang>), in the
// organisation's time zone. Pure: the language is passed in (tests/js/format.test.mjs).

export const TIME_ZONE = "Asia/Ho_Chi_Minh";

// "vi" unless the page says otherwise ("en" → English conventions).
export function pageLanguage(doc = globalThis.document) {
  return doc?.documentElement?.lang || "vi";
}

// 1.250 in Vietnamese, 1,250 in English.
export function formatNumber(n, lang) {
  return Number(n || 0).toLocaleString(lang);
}

// 14:05 (24-hour in both languages: a meeting's clock).
export function formatTime(iso, lang) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: TIME_ZONE });
}
