// Docs: docs/deploy.md ("The HTTPS front") — the live "does this browser trust the server's
// certificate?" check on /ca/ and /ca/continue/, and the copy buttons of /ca/.
//
// The check loads /ca/trust-check/ over HTTPS. With mode "no-cors" the answer is opaque, but
// the fetch resolves only if the TLS connection succeeded, i.e. the browser trusts the
// certificate; an untrusted certificate makes it reject. Strings come from Django's JS
// catalog (gettext, interpolate), loaded before this module.

const CHECK_TIMEOUT_MS = 10000;

export async function browserTrusts(url, timeoutMs = CHECK_TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    await fetch(url, {
      mode: "no-cors",
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      signal: controller.signal,
    });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function runCheck(box) {
  const status = box.querySelector("#trust-status");
  const continuing = box.dataset.continue === "1";
  box.hidden = false;
  status.textContent = gettext("Checking whether this browser trusts the server…");
  const trusted = await browserTrusts(box.dataset.checkUrl);
  if (continuing) {
    const link = document.getElementById("continue-link");
    if (trusted && link) {
      status.textContent = gettext("Continuing to the secure address…");
      location.replace(link.href);
    } else {
      box.hidden = true; // the page itself says what to do
    }
    return;
  }
  if (trusted) {
    const origin = box.dataset.origin;
    const link = document.createElement("a");
    link.href = `${origin}/`;
    link.textContent = interpolate(gettext("Continue to %s"), [origin]);
    status.className = "add";
    status.replaceChildren(gettext("Yes: this browser trusts the server."), " ", link);
  } else {
    status.className = "bad";
    status.textContent = gettext(
      "Not yet: install the certificate above, restart the browser, then reload this page.",
    );
  }
}

// navigator.clipboard exists only in secure contexts, and these pages are plain http: fall
// back to selecting the text and the older copy command.
async function copyText(el) {
  if (window.isSecureContext && navigator.clipboard) {
    try {
      await navigator.clipboard.writeText(el.textContent);
      return true;
    } catch {
      // fall through to the selection
    }
  }
  const range = document.createRange();
  range.selectNodeContents(el);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) continue;
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const copied = await copyText(source);
      button.textContent = copied ? gettext("Copied") : gettext("Select the text and copy it");
      setTimeout(() => {
        button.textContent = label;
      }, 3000);
    });
  }
}

setUpCopyButtons();
const box = document.getElementById("trust");
if (box) runCheck(box);
