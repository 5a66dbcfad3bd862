// Docs: docs/live.md — a delegate's phone: follows the meeting and votes individually.

import { Control } from "./control.js";
import { $, h, number, show, toast } from "./ui.js";

const config = JSON.parse(document.getElementById("live-config").textContent);
// Phones do not ping: 1,500 of them once a second would be the control plane's main load.
const control = new Control(config.meeting, "delegate", { heartbeat: false });
const votedKey = (id) => `diemcau.voted.${config.meeting}.${id}`;

control.addEventListener("status", (e) => {
  const el = $("#connection");
  el.textContent = {
    connected: gettext("Connected"),
    reconnecting: gettext("Reconnecting to the server…"),
    refused: gettext("This link does not open the meeting: ask your site for the current delegate link."),
    revoked: gettext("This link no longer works: it was replaced, it expired or your site was withdrawn. Ask your site for the current delegate link."),
    ended: gettext("The meeting has ended. You can close this page."),
  }[e.detail] || e.detail;
  el.className = `connection ${e.detail === "connected" ? "good" : "bad"}`;
});
control.addEventListener("state", () => render());

function render() {
  const state = control.state;
  const sites = new Map(state.sites.map((s) => [s.id, s]));
  show($("#announcement"), !!state.announcement);
  $("#announcement-text").textContent = state.announcement || "";
  $("#floor-now").textContent = state.floor
    ? interpolate(gettext("Speaking: %(site)s"), { site: sites.get(state.floor.site)?.name || "" }, true)
    : "";
  const vote = state.vote;
  show($("#vote"), !!vote);
  show($("#no-vote"), !vote);
  if (!vote) return;
  $("#vote-title").textContent = interpolate(gettext("Vote no. %s: %s"), [vote.number, vote.text]);
  const r = vote.result;
  if (!vote.open) {
    $("#vote-choices").replaceChildren();
    $("#vote-status").textContent =
      interpolate(gettext("%(tally)s — %(result)s"), {
        tally: vote.options.map((o) => `${o}: ${number(r.tally[o] || 0)}`).join(" · "),
        result: !r.quorum ? gettext("Not valid: quorum not reached.") : r.adopted ? gettext("Adopted.") : gettext("Not adopted."),
      }, true);
    return;
  }
  if (vote.counting !== "individual") {
    $("#vote-choices").replaceChildren();
    $("#vote-status").textContent = gettext("Your site votes from its meeting room in this vote.");
    return;
  }
  if (config.code === null) {
    // Without a voting code this phone follows the meeting; the form above takes the code.
    $("#vote-choices").replaceChildren();
    $("#vote-status").textContent = gettext("Enter your voting code above to vote.");
    return;
  }
  const voted = sessionStorage.getItem(votedKey(vote.id));
  $("#vote-status").textContent = voted ? interpolate(gettext("You voted: %s."), [voted]) : "";
  $("#vote-choices").replaceChildren(
    ...(voted
      ? []
      : vote.options.map((o) =>
          h("button", { class: "big", type: "button", dataset: { option: o }, onclick: () => cast(vote.id, o) }, o),
        )),
  );
}

async function cast(voteId, option) {
  try {
    await control.send("vote.cast", { choice: option });
    sessionStorage.setItem(votedKey(voteId), option);
    toast(gettext("Vote sent."), "success");
  } catch (err) {
    toast(err.message, "error");
  }
  render();
}

control.start();
window.diemcau = { control };
