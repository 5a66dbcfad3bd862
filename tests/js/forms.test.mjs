// Docs: docs/deploy.md ("Content-Security-Policy") — static/diemcau/forms.js does what the
// inline handlers did before the policy forbade them. Run: node --test tests/js/

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

const listeners = {};
globalThis.document = {
  addEventListener(type, listener, capture = false) {
    listeners[type] = { listener, capture };
  },
};
globalThis.HTMLFormElement = class {};
globalThis.HTMLSelectElement = class {};
globalThis.HTMLInputElement = class {};
let answer = true;
const asked = [];
globalThis.window = {
  confirm(question) {
    asked.push(question);
    return answer;
  },
};

await import("../../src/diemcau/static/diemcau/forms.js");

function element(Kind, props) {
  return Object.assign(new Kind(), { dataset: {} }, props);
}

function fire(type, target) {
  const event = { target, prevented: false, stopped: false };
  event.preventDefault = () => (event.prevented = true);
  event.stopPropagation = () => (event.stopped = true);
  listeners[type].listener(event);
  return event;
}

beforeEach(() => {
  answer = true;
  asked.length = 0;
});

test("a form with data-confirm asks first, before the form's own handlers", () => {
  assert.equal(listeners.submit.capture, true);
  const form = element(HTMLFormElement, { dataset: { confirm: "End the meeting?" } });
  const accepted = fire("submit", form);
  assert.deepEqual(asked, ["End the meeting?"]);
  assert.equal(accepted.prevented, false);
  answer = false;
  const cancelled = fire("submit", form);
  assert.equal(cancelled.prevented, true);
  assert.equal(cancelled.stopped, true);
});

test("a form without data-confirm is sent without a question", () => {
  const event = fire("submit", element(HTMLFormElement));
  assert.deepEqual(asked, []);
  assert.equal(event.prevented, false);
});

test("a select with data-submit-on-change submits its form", () => {
  let submitted = 0;
  const form = { submit: () => submitted++ };
  fire("change", element(HTMLSelectElement, { form, dataset: { submitOnChange: "" } }));
  fire("change", element(HTMLSelectElement, { form }));
  assert.equal(submitted, 1);
});

test("an input with data-select-on-click selects its text", () => {
  let selected = 0;
  const select = () => selected++;
  fire("click", element(HTMLInputElement, { select, dataset: { selectOnClick: "" } }));
  fire("click", element(HTMLInputElement, { select }));
  assert.equal(selected, 1);
});
