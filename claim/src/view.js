// The page's one state region (DESIGN §9 hooks) and small DOM helpers. States and their titles live here.

export const STATES = Object.freeze({
  invalid: "This QR code cannot be read",
  "wrong-network": "This receipt belongs to another network",
  pending: "Not on chain yet",
  claimable: "Ready to claim",
  claiming: "Claiming…",
  claimed: "Claimed",
  refunded: "This sale was refunded",
  error: "Something went wrong",
});

export const $ = (id) => document.getElementById(id);

/** Show `state` with its title and a line of text (or nodes) on [data-testid=state]. */
export function setState(state, text) {
  if (!(state in STATES)) throw new Error(`unknown state ${state}`);
  const box = $("state");
  const changed = box.dataset.state !== undefined && box.dataset.state !== state;
  box.dataset.state = state;
  $("state-title").textContent = STATES[state];
  const body = $("state-text");
  body.replaceChildren(...(Array.isArray(text) ? text : [text || ""]));
  document.body.dataset.state = state;
  $("claim-form").hidden = state !== "claimable";
  // moving focus to the new state tells screen readers and keyboard users where they are
  if (changed && state !== "claiming") box.focus({ preventScroll: false });
}

/** <span>label</span> <code>value</code> lines for the state text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** "the service …" -> "The service …" (gateway and wallet messages start in lower case). */
export function sentence(text) {
  const t = String(text || "").trim().replace(/[.]$/, "");
  return t ? t[0].toUpperCase() + t.slice(1) : t;
}
