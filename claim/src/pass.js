// The membership pass (DESIGN §11): EIP-712 Member(member, validUntil) signed by the wallet, as
// "dsgm1:" + base64url(chainId 8 | staking 20 | member 20 | validUntil 8 | r s v 65): 121 bytes.
import { hexToBytes } from "viem";
import { b64urlEncode } from "./payload.js";

export const PASS_PREFIX = "dsgm1:";
export const PASS_BYTES = 121;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export const MEMBER_TYPES = {
  Member: [
    { name: "member", type: "address" },
    { name: "validUntil", type: "uint64" },
  ],
};

export function memberTypedData({ chainId, staking, member, validUntil }) {
  return {
    domain: { name: "DSG Staking", version: "1", chainId: Number(chainId), verifyingContract: staking },
    types: MEMBER_TYPES,
    primaryType: "Member",
    message: { member, validUntil: BigInt(validUntil) },
  };
}

function be(value, size) {
  const out = new Uint8Array(size);
  let v = BigInt(value);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v) throw new Error(`value does not fit in ${size} bytes`);
  return out;
}

/** 65-byte r‖s‖v with v ∈ {27, 28} and low s, whatever form the wallet answered in. */
export function normalizeSignature(sig) {
  const bytes = hexToBytes(sig);
  if (bytes.length !== 65) throw new Error(`the wallet's signature has ${bytes.length} bytes, not 65`);
  let v = bytes[64];
  if (v < 27) v += 27;
  if (v !== 27 && v !== 28) throw new Error("the wallet's signature has an unknown recovery id");
  let s = 0n;
  for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(bytes[i]);
  if (s > N / 2n) {
    bytes.set(be(N - s, 32), 32);
    v = v === 27 ? 28 : 27;
  }
  bytes[64] = v;
  return bytes;
}

export function encodePass({ chainId, staking, member, validUntil, signature }) {
  const out = new Uint8Array(PASS_BYTES);
  out.set(be(chainId, 8), 0);
  out.set(hexToBytes(staking), 8);
  out.set(hexToBytes(member), 28);
  out.set(be(validUntil, 8), 48);
  out.set(normalizeSignature(signature), 56);
  return PASS_PREFIX + b64urlEncode(out);
}
