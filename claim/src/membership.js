// The membership view (DESIGN §11) for a connected wallet: staked, tier, next tier, cool-down,
// dividends; stake (approve + stake), request unstake, withdraw, claim dividends; the pass QR.
import { parseUnits } from "viem";
import { STAKING_ABI, TOKEN_ABI } from "./abi.js";
import { formatDsg, formatDuration, formatTime, formatToken } from "./format.js";
import { encodePass, memberTypedData } from "./pass.js";
import { drawQr } from "./qr.js";
import { $ } from "./view.js";
import { walletMessage } from "./wallet.js";

const PASS_VALID_S = 540; // the till refuses a pass valid for more than 10 minutes ahead (§11)
const PASS_RENEW_S = 60; // with less than a minute left the page asks the wallet once for a new one
const MAX_TIERS = 8;
const LABELS = { stake: "Stake", unstake: "Request to unstake", withdraw: "Withdraw", claimDividends: "Claim dividends" };

export class Membership {
  constructor(wallet, config) {
    this.wallet = wallet;
    this.staking = config.staking;
    this.token = config.token;
    this.chainId = Number(config.chain_id);
    this.pass = null;
    this.tick = 0;
    this.busy = false;
  }

  show() {
    $("member").hidden = false;
    $("stake").onclick = () => this.act("stake");
    $("unstake").onclick = () => this.act("unstake");
    $("withdraw").onclick = () => this.act("withdraw");
    $("claim-dividends").onclick = () => this.act("claimDividends");
    $("show-pass").onclick = () => this.showPass();
    return this.load();
  }

  say(text) {
    $("member-status").textContent = text;
  }

  read(fn, ...args) {
    return this.wallet.read(this.staking, STAKING_ABI, fn, args);
  }

  /** tierThresholds(0..) up to the list's end (a read past it reverts). */
  async thresholds() {
    const reads = [...Array(MAX_TIERS).keys()].map((i) => this.read("tierThresholds", BigInt(i)).catch(() => null));
    const all = await Promise.all(reads);
    const end = all.indexOf(null);
    return (end < 0 ? all : all.slice(0, end)).filter((t) => t > 0n);
  }

  async profitToken() {
    if (!this.profit) {
      const address = await this.read("profitToken");
      const [decimals, symbol] = await Promise.all([
        this.wallet.read(address, TOKEN_ABI, "decimals").catch(() => 18),
        this.wallet.read(address, TOKEN_ABI, "symbol").catch(() => ""),
      ]);
      this.profit = { address, decimals: Number(decimals), symbol };
    }
    return this.profit;
  }

  /** Read everything the view shows from the chain, through the wallet. */
  async load() {
    const me = this.wallet.account;
    try {
      await this.wallet.ensureChain(this.chainId);
      const [staked, tier, cooldown, earned, balance, thresholds, profit, request, now] = await Promise.all([
        this.read("stakedOf", me),
        this.read("tierOf", me),
        this.read("cooldown"),
        this.read("earned", me),
        this.wallet.read(this.token, TOKEN_ABI, "balanceOf", [me]),
        this.thresholds(),
        this.profitToken(),
        this.read("unstakeRequest", me).catch(() => [0n, 0n]),
        this.wallet.chainTime(),
      ]);
      $("member-balance").textContent = formatDsg(balance);
      $("member-staked").textContent = formatDsg(staked);
      $("member-tier").textContent = tier === 0n ? "none yet" : `tier ${tier}`;
      $("member-tier").dataset.tier = tier.toString();
      const next = thresholds[Number(tier)];
      $("member-next").textContent =
        next === undefined
          ? thresholds.length ? "you are in the highest tier" : "no tiers are set yet"
          : `tier ${Number(tier) + 1} needs ${formatDsg(next)} staked: ${formatDsg(next - staked)} more`;
      const [waiting, availableAt] = request;
      $("member-cooldown").textContent =
        waiting === 0n
          ? `${formatDuration(cooldown)} from asking to unstake until you can withdraw`
          : Number(availableAt) > now
            ? `${formatDsg(waiting)} waiting; withdraw from ${formatTime(Number(availableAt))} (in ${formatDuration(Number(availableAt) - now)})`
            : `${formatDsg(waiting)} ready: tap Withdraw`;
      $("member-earned").textContent = formatToken(earned, profit.decimals, profit.symbol);
      $("member-earned").dataset.raw = earned.toString();
      $("member-staked").dataset.raw = staked.toString();
    } catch (err) {
      this.say(`Could not read your membership: ${walletMessage(err)}. Reconnect your wallet or reload the page.`);
    }
  }

  amount() {
    const raw = $("stake-amount").value.trim();
    if (!/^\d+(\.\d{1,18})?$/.test(raw) || parseUnits(raw, 18) === 0n) {
      $("stake-amount").setAttribute("aria-invalid", "true");
      throw new Error("enter an amount of DSG, like 10 or 2.5");
    }
    $("stake-amount").setAttribute("aria-invalid", "false");
    return parseUnits(raw, 18);
  }

  /** One staking action from the wallet; waits for each transaction, then reloads the view. */
  async act(kind) {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.wallet.ensureChain(this.chainId);
      const send = async (label, address, abi, fn, args) => {
        this.say(`${label}: confirm in your wallet…`);
        const hash = await this.wallet.write(address, abi, fn, args);
        this.say(`${label}: waiting for transaction ${hash}…`);
        const receipt = await this.wallet.waitFor(hash);
        if (receipt.status !== "success") throw new Error(`${label} failed on chain`);
      };
      if (kind === "stake") {
        const amount = this.amount();
        const allowance = await this.wallet.read(this.token, TOKEN_ABI, "allowance", [this.wallet.account, this.staking]);
        if (allowance < amount) await send("Approve DSG for staking", this.token, TOKEN_ABI, "approve", [this.staking, amount]);
        await send(LABELS.stake, this.staking, STAKING_ABI, "stake", [amount]);
      } else if (kind === "unstake") {
        await send(LABELS.unstake, this.staking, STAKING_ABI, "requestUnstake", [this.amount()]);
      } else {
        await send(LABELS[kind], this.staking, STAKING_ABI, kind, []);
      }
      this.say(`${LABELS[kind]}: done.`);
    } catch (err) {
      this.say(`Not done: ${walletMessage(err)}`);
    } finally {
      this.busy = false;
      await this.load();
    }
  }

  /** Ask the wallet to sign a fresh pass and draw it; renews itself once when a minute is left. */
  async showPass(auto = false) {
    clearInterval(this.tick);
    const validUntil = Math.floor(Date.now() / 1000) + PASS_VALID_S;
    const member = this.wallet.account;
    try {
      await this.wallet.ensureChain(this.chainId);
      this.say("Sign your membership pass in your wallet…");
      const signature = await this.wallet.signTypedData(memberTypedData({ chainId: this.chainId, staking: this.staking, member, validUntil }));
      this.pass = { text: encodePass({ chainId: this.chainId, staking: this.staking, member, validUntil, signature }), validUntil, renewed: false };
    } catch (err) {
      this.say(`No pass: ${walletMessage(err)}. Tap "Show my pass" to try again.`);
      if (auto) this.expire();
      return;
    }
    this.say("Show this code at the till.");
    $("pass").hidden = false;
    $("pass-text").textContent = this.pass.text;
    $("pass-qr").dataset.validUntil = String(validUntil);
    await drawQr($("pass-qr"), this.pass.text);
    this.tick = setInterval(() => this.countdown(), 1000);
    this.countdown();
  }

  countdown() {
    const left = this.pass.validUntil - Math.floor(Date.now() / 1000);
    if (left <= 0) return this.expire();
    $("pass-left").textContent = `valid for ${formatDuration(left)} more`;
    if (left < PASS_RENEW_S && !this.pass.renewed) {
      this.pass.renewed = true;
      this.showPass(true);
    }
  }

  expire() {
    clearInterval(this.tick);
    $("pass").hidden = true;
    $("pass-text").textContent = "";
    this.say('Your pass expired. Tap "Show my pass" for a fresh one.');
  }
}
