// The claim page (DESIGN §9): receipt QR fragment -> gateway status -> signed claim.
// The claim key from the fragment stays in this page: it signs here and is never sent or logged.
import { getAddress, isAddress, zeroAddress } from "viem";
import { getConfig, getReceipt, postClaim, ApiError } from "./api.js";
import { MINING_ABI } from "./abi.js";
import { formatDsg, formatMoney, formatTime } from "./format.js";
import { decodeFragment, InvalidQr } from "./payload.js";
import { claimAddressOf, signClaim } from "./sign.js";
import { $, el, sentence, setState } from "./view.js";
import { provider, Wallet, walletMessage } from "./wallet.js";
import { Membership } from "./membership.js";

const RECHECK_MS = 10_000;
const WATCH_MS = 2_000;

const page = { receipt: null, status: null, config: null, wallet: null, timer: 0, txHash: "", membership: null, retried: "" };

function schedule(fn, ms) {
  clearTimeout(page.timer);
  page.timer = setTimeout(fn, ms);
}

function showReceipt(r) {
  $("r-date").textContent = formatTime(r.time);
  $("r-amount").textContent = formatMoney(r.amount, r.currency);
  $("r-currency").textContent = r.currency;
  $("r-till").textContent = r.till;
  $("r-seq").textContent = r.seq.toString();
  $("receipt").hidden = false;
}

function showReward(wei) {
  $("reward").textContent = formatDsg(wei);
  $("reward-row").hidden = false;
}

function txLink(hash) {
  return el("code", { class: "hash", "data-testid": "tx-hash", text: hash });
}

function claimedState(status) {
  const recipient = status.recipient || "";
  const hash = status.tx_hash || (status.relay && status.relay.tx_hash) || page.txHash;
  if (status.reward) showReward(status.reward);
  setState("claimed", [
    el("span", { text: `${status.reward ? formatDsg(status.reward) : "The DSG"} went to ` }),
    el("code", { class: "addr", "data-testid": "claimed-recipient", text: recipient }),
    ...(hash ? [el("span", { text: " in transaction " }), txLink(hash)] : []),
    el("span", { text: ". Nothing more to do: the DSG are in that wallet." }),
  ]);
}

/** The gateway's transaction was mined but reverted (e.g. claims were paused meanwhile):
 *  nothing was claimed, the receipt stays claimable and a new claim may be sent. */
function failedState(relay) {
  const again = el("button", { type: "button", text: "Try again" });
  again.addEventListener("click", () => {
    page.retried = relay.tx_hash;
    refresh();
  });
  setState("error", [
    el("span", { text: "Your claim's transaction " }),
    txLink(relay.tx_hash),
    el("span", {
      text: " failed on the network (for example, claims were paused while it was on its way), so nothing was claimed and it cost you nothing. Your receipt is still claimable: tap Try again to send a new claim. ",
    }),
    again,
  ]);
}

function errorState(what, todo) {
  setState("error", `${what}. ${todo}`);
}

/** Load (or reload) the receipt's status from the gateway and show the matching state. */
async function refresh() {
  const r = page.receipt;
  let status;
  try {
    status = await getReceipt(r.till, r.seq);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      setState("pending", pendingText(r));
      return schedule(refresh, RECHECK_MS);
    }
    errorState(`The claim service could not look up this receipt (${err.message})`, "Check your connection; this page tries again by itself.");
    return schedule(refresh, RECHECK_MS);
  }
  page.status = status;
  if (status.reward) showReward(status.reward);
  switch (status.state) {
    case "pending":
      setState("pending", pendingText(r));
      return schedule(refresh, RECHECK_MS);
    case "refunded":
      return setState("refunded", "The shop refunded this sale, so it earns no DSG. Nothing to claim.");
    case "claimed":
      return claimedState(status);
    case "claimable":
      if (String(status.claim_address).toLowerCase() !== claimAddressOf(r.claimKey).toLowerCase()) {
        return setState("invalid", "This QR code does not match the receipt the shop recorded. Scan the code printed on your receipt again.");
      }
      if (status.relay && status.relay.state === "failed" && page.retried !== status.relay.tx_hash) {
        return failedState(status.relay);
      }
      if ($("state").dataset.state === "claiming") return schedule(refresh, WATCH_MS);
      return setState("claimable", "Enter the wallet address that should receive the DSG, then tap Claim. You need no ETH: the claim service pays the fee.");
    default:
      return errorState("The claim service answered with an unknown state", "Reload the page later.");
  }
}

function pendingText(r) {
  return `the shop has not sent this receipt yet; it waits since ${formatTime(r.time)}; come back later. This page checks again by itself every few seconds.`;
}

/** The recipient typed or pasted: an address, with its checksum checked when it has capitals. */
function readRecipient() {
  const input = $("recipient");
  const raw = input.value.trim();
  let problem = "";
  if (!raw) problem = "Enter the address of your wallet (0x followed by 40 characters).";
  else if (!/^0x[0-9a-fA-F]{40}$/.test(raw)) problem = "That is not a wallet address: it must be 0x followed by 40 characters 0-9 and a-f.";
  else if (!isAddress(raw, { strict: true })) problem = "The capital letters of this address do not match its checksum: check it for a typo, or paste it again.";
  else if (raw.toLowerCase() === zeroAddress) problem = "That is the zero address: nobody could ever spend DSG sent there.";
  $("recipient-error").textContent = problem;
  input.setAttribute("aria-invalid", problem ? "true" : "false");
  if (problem) {
    input.focus();
    return null;
  }
  return getAddress(raw);
}

async function claimThroughGateway(event) {
  event.preventDefault();
  const recipient = readRecipient();
  if (!recipient) return;
  const r = page.receipt;
  setState("claiming", "Signing and sending your claim…");
  let answer;
  try {
    const signature = await signClaim(r.claimKey, { chainId: r.chainId, mining: r.mining, till: r.till, seq: r.seq, recipient });
    answer = await postClaim(r.till, r.seq, recipient, signature);
  } catch (err) {
    return claimRefused(err);
  }
  page.txHash = answer.tx_hash || "";
  setState("claiming", [
    el("span", { text: "Your claim was sent" }),
    ...(page.txHash ? [el("span", { text: " in transaction " }), txLink(page.txHash)] : []),
    el("span", { text: ". Waiting for the network to confirm it…" }),
  ]);
  schedule(refresh, WATCH_MS);
}

function claimRefused(err) {
  const code = err instanceof ApiError ? err.code : "";
  if (["already_claimed", "pending", "refunded"].includes(code)) return refresh();
  const todo = {
    rate_limited: "Too many claims came from your network; wait a minute and tap Claim again.",
    relay_unavailable: "The claim service cannot pay fees right now. Try again later, or connect a wallet and pay the fee yourself.",
    paused: "Claims are paused for maintenance. Come back later: your receipt stays claimable.",
    mining_ended: "All DSG have been mined; this receipt earns nothing more.",
    bad_signature: "Scan the QR code on your receipt again and retry.",
    network: "Check your internet connection and tap Retry.",
  }[code] || "Tap Retry; if it keeps failing, come back later: your receipt stays claimable.";
  setState("error", [el("span", { text: `${sentence(err.message)}. ${todo} ` }), retryButton()]);
}

function retryButton() {
  const b = el("button", { type: "button", class: "secondary", text: "Retry" });
  b.addEventListener("click", () => refresh());
  return b;
}

async function connectWallet() {
  const note = $("wallet-note");
  try {
    page.wallet = await Wallet.connect();
  } catch (err) {
    note.textContent = `Could not connect a wallet: ${walletMessage(err)}. You can still type or paste your address.`;
    return;
  }
  $("recipient").value = page.wallet.account;
  readRecipient();
  note.textContent = `Connected: ${page.wallet.account}`;
  $("self-claim").hidden = false;
  $("connect").textContent = "Wallet connected";
  $("connect").disabled = true;
  if (page.config && page.config.staking) {
    $("member-intro").hidden = true;
    page.membership = new Membership(page.wallet, page.config);
    page.membership.show();
  }
}

/** The membership view needs no receipt: offer it whenever a wallet and a staking contract exist. */
async function offerMembership() {
  if (!provider() || page.wallet) return;
  if (!page.config) {
    try {
      page.config = await getConfig();
    } catch {
      return;
    }
  }
  $("member-intro").hidden = !page.config.staking;
}

/** The shopper sends claim(...) from the connected wallet and pays the gas (proof from the gateway). */
async function claimFromWallet() {
  const recipient = readRecipient();
  if (!recipient || !page.wallet) return;
  const r = page.receipt;
  const s = page.status;
  setState("claiming", "Confirm the transaction in your wallet…");
  try {
    await page.wallet.ensureChain(r.chainId);
    const signature = await signClaim(r.claimKey, { chainId: r.chainId, mining: r.mining, till: r.till, seq: r.seq, recipient });
    const args = [r.till, BigInt(s.batch_index), r.seq, BigInt(s.amount), Number(s.time), s.claim_address, s.proof, recipient, signature];
    page.txHash = await page.wallet.write(r.mining, MINING_ABI, "claim", args);
    setState("claiming", [el("span", { text: "Sent from your wallet in transaction " }), txLink(page.txHash), el("span", { text: ". Waiting for it…" })]);
    const receipt = await page.wallet.waitFor(page.txHash);
    if (receipt.status !== "success") throw new Error("the transaction failed on chain");
  } catch (err) {
    setState("error", [el("span", { text: `Your wallet could not send the claim: ${walletMessage(err)}. Try again, or tap Claim to let the claim service pay the fee. ` }), retryButton()]);
    return;
  }
  refresh();
}

async function start() {
  clearTimeout(page.timer);
  $("receipt").hidden = true;
  $("reward-row").hidden = true;
  try {
    page.receipt = decodeFragment(window.location.hash);
  } catch (err) {
    if (!(err instanceof InvalidQr)) throw err;
    if (!window.location.hash) offerMembership(); // opened without a receipt: a member's visit
    return setState(
      "invalid",
      `${sentence(err.message)}. Scan the QR code printed on your receipt again; if it still fails, ask the shop for a copy of the receipt.`,
    );
  }
  const r = page.receipt;
  showReceipt(r);
  try {
    page.config = await getConfig();
  } catch (err) {
    return setState("error", [el("span", { text: `The claim service does not answer (${err.message}). Check your connection, then ` }), reloadButton()]);
  }
  const cfg = page.config;
  if (BigInt(cfg.chain_id) !== r.chainId || String(cfg.mining).toLowerCase() !== r.mining.toLowerCase()) {
    return setState(
      "wrong-network",
      `This receipt was issued on chain ${r.chainId} for contract ${r.mining}, but this claim site serves chain ${cfg.chain_id} (contract ${cfg.mining}). Open the link printed on the receipt itself, or ask the shop.`,
    );
  }
  await refresh();
  offerMembership();
}

function reloadButton() {
  const b = el("button", { type: "button", class: "secondary", text: "Reload" });
  b.addEventListener("click", () => start());
  return b;
}

function init() {
  $("claim-form").addEventListener("submit", claimThroughGateway);
  // a new value clears the old complaint while typing (validating on blur would move the
  // buttons under the finger as the message disappears)
  $("recipient").addEventListener("input", () => {
    $("recipient-error").textContent = "";
    $("recipient").removeAttribute("aria-invalid");
  });
  $("self-claim").addEventListener("click", claimFromWallet);
  const connect = $("connect");
  $("member-connect").addEventListener("click", connectWallet);
  if (provider()) connect.addEventListener("click", connectWallet);
  else {
    connect.hidden = true;
    $("wallet-note").textContent = "No wallet app in this browser: type or paste your wallet address.";
  }
  window.addEventListener("hashchange", start);
  start();
}

init();
