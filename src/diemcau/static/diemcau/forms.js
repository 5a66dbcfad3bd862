// Docs: docs/deploy.md ("Content-Security-Policy") — what form elements do by themselves,
// declared in the markup with data attributes, since the policy runs no inline handlers
// (onsubmit=, onchange=, onclick=):
//
//   <form data-confirm="Question?">   asks before submitting; Cancel keeps the page
//   <select data-submit-on-change>    submits its form when another option is chosen
//   <input data-select-on-click>      selects its whole text when clicked (links to copy)
//
// Listeners sit on the document, so elements added later behave the same.

// Capture: the question comes before any handler of the form's own (which may send it
// with fetch), and a Cancel stops those too.
document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopPropagation();
    }
  },
  true,
);

document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && "submitOnChange" in select.dataset && select.form) {
    select.form.submit();
  }
});

document.addEventListener("click", (event) => {
  const input = event.target;
  if (input instanceof HTMLInputElement && "selectOnClick" in input.dataset) input.select();
});
