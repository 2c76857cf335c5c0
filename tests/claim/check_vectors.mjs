// Run by test_vectors.py: the page's own modules (claim/src) against tests/vectors.json.
// Prints one JSON object of results; the Python test asserts on it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { decodeFragment, InvalidQr } from "../../claim/src/payload.js";
import { encodePass, memberTypedData, normalizeSignature } from "../../claim/src/pass.js";
import { signClaim, claimAddressOf } from "../../claim/src/sign.js";

// viem as the page bundles it: resolved from claim/node_modules
const claimRequire = createRequire(new URL("../../claim/package.json", import.meta.url));
const { hashTypedData } = await import(pathToFileURL(claimRequire.resolve("viem")).href);
const { privateKeyToAccount } = await import(pathToFileURL(claimRequire.resolve("viem/accounts")).href);

const v = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};

const qr = decodeFragment(new URL(v.qr.url).hash);
out.qr = { ...qr, chainId: qr.chainId.toString(), seq: qr.seq.toString(), amount: qr.amount.toString() };
out.rejects = v.qr_rejects.map(({ why, url }) => {
  try {
    decodeFragment(new URL(url).hash);
    return { why, rejected: false };
  } catch (err) {
    return { why, rejected: err instanceof InvalidQr, message: err.message };
  }
});

// more strictness: padding, whitespace, the standard alphabet, a non-canonical last character
const good = new URL(v.qr.url).hash.slice(1);
const variants = { padding: `${good}==`, space: ` ${good}`, plus: good.replace(/-/g, "+"), slash: good.replace(/_/g, "/"), percent: `${good.slice(0, 10)}%41${good.slice(13)}` };
out.extra_rejects = Object.fromEntries(
  Object.entries(variants).map(([why, text]) => {
    try {
      decodeFragment(`#${text}`);
      return [why, false];
    } catch (err) {
      return [why, err instanceof InvalidQr];
    }
  }),
);

const d = v.claim_digest;
const k1 = v.claim_keys.find((c) => c.seq === d.seq);
out.claim_address = claimAddressOf(k1.claim_key);
out.claim_signature = await signClaim(k1.claim_key, { chainId: BigInt(v.chain_id), mining: v.contract, till: d.till, seq: BigInt(d.seq), recipient: d.recipient });

const m = v.member_pass;
const typed = memberTypedData({ chainId: m.chain_id, staking: m.staking, member: m.member, validUntil: m.valid_until });
out.member_digest = hashTypedData(typed);
const memberSig = await privateKeyToAccount(m.member_key).signTypedData(typed);
out.member_signature = memberSig;
out.pass = encodePass({ chainId: m.chain_id, staking: m.staking, member: m.member, validUntil: m.valid_until, signature: memberSig });
// a wallet answering v as 0/1 or with a high s still gives the same canonical pass
const raw = [...normalizeSignature(memberSig)];
const v01 = `0x${raw.slice(0, 64).map((b) => b.toString(16).padStart(2, "0")).join("")}${(raw[64] - 27).toString(16).padStart(2, "0")}`;
out.pass_from_v01 = encodePass({ chainId: m.chain_id, staking: m.staking, member: m.member, validUntil: m.valid_until, signature: v01 });
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const s = BigInt(`0x${raw.slice(32, 64).map((b) => b.toString(16).padStart(2, "0")).join("")}`);
const highS = (N - s).toString(16).padStart(64, "0");
const flipped = raw[64] === 27 ? "1c" : "1b";
const hi = `0x${raw.slice(0, 32).map((b) => b.toString(16).padStart(2, "0")).join("")}${highS}${flipped}`;
out.pass_from_high_s = encodePass({ chainId: m.chain_id, staking: m.staking, member: m.member, validUntil: m.valid_until, signature: hi });
console.log(JSON.stringify(out));
