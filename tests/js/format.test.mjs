// Docs: docs/live.md — static/live/format.js: numbers and times follow the page's language
// (Vietnamese first), in Asia/Ho_Chi_Minh. Run: node --test tests/js/

import assert from "node:assert/strict";
import { test } from "node:test";

import { formatNumber, formatTime, pageLanguage } from "../../src/diemcau/live/static/live/format.js";

test("numbers: 1.250.000 in Vietnamese, 1,250,000 in English", () => {
  assert.equal(formatNumber(1250000, "vi"), "1.250.000");
  assert.equal(formatNumber(1250000, "en"), "1,250,000");
  assert.equal(formatNumber(undefined, "vi"), "0");
});

test("times: the meeting's clock in Ho Chi Minh City, 24-hour", () => {
  // 07:05 UTC is 14:05 in Asia/Ho_Chi_Minh.
  assert.equal(formatTime("2026-12-02T07:05:00Z", "vi"), "14:05");
  assert.equal(formatTime("2026-12-02T07:05:00Z", "en"), "14:05");
  assert.equal(formatTime("", "vi"), "");
});

test("the page's language comes from <html lang>, Vietnamese when unset", () => {
  assert.equal(pageLanguage({ documentElement: { lang: "en" } }), "en");
  assert.equal(pageLanguage({ documentElement: { lang: "" } }), "vi");
  assert.equal(pageLanguage(undefined), "vi");
});
