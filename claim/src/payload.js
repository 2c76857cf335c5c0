// The receipt QR payload (DESIGN §5), read from the URL fragment only and decoded strictly.
import { getAddress, toHex } from "viem";

const LENGTH = 102;
const VERSION = 1;
const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const B64URL = /^[A-Za-z0-9_-]*$/;

export class InvalidQr extends Error {}

/** base64url without padding -> bytes; any other character, padding or a dangling length is refused
 * (a lenient decoder would silently drop bad characters). */
export function b64urlDecode(text) {
  if (!B64URL.test(text)) {
    const bad = [...text].find((c) => !/[A-Za-z0-9_-]/.test(c));
    throw new InvalidQr(`the code contains a character that cannot be in it (${JSON.stringify(bad)})`);
  }
  if (text.length % 4 === 1) throw new InvalidQr("the code has a wrong length: it was cut or mistyped");
  const std = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // unused trailing bits must be zero, so that one payload has exactly one text
  if (b64urlEncode(out) !== text) throw new InvalidQr("the code is not in its canonical form");
  return out;
}

export function b64urlEncode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function uint(bytes, start, size) {
  let v = 0n;
  for (let i = start; i < start + size; i++) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/** The fragment (with or without its leading "#") -> the receipt's fields; throws InvalidQr with a
 * message a shopper can act on. */
export function decodeFragment(fragment) {
  const text = (fragment || "").replace(/^#/, "");
  if (!text) throw new InvalidQr("this link carries no receipt: scan the QR code on your receipt again");
  const bytes = b64urlDecode(text);
  if (bytes.length !== LENGTH) {
    throw new InvalidQr(`the code holds ${bytes.length} bytes, a receipt holds ${LENGTH}: it was cut or mistyped`);
  }
  if (bytes[0] !== VERSION) {
    throw new InvalidQr(`this receipt uses version ${bytes[0]} of the QR code; this page reads version ${VERSION}`);
  }
  const currency = String.fromCharCode(...bytes.slice(63, 66));
  if (!/^[A-Z]{3}$/.test(currency)) throw new InvalidQr("the code names no valid currency");
  const key = uint(bytes, 70, 32);
  if (key === 0n || key >= CURVE_N) throw new InvalidQr("the code's claim key is not a valid key");
  return {
    chainId: uint(bytes, 1, 8),
    mining: getAddress(toHex(bytes.slice(9, 29))),
    till: getAddress(toHex(bytes.slice(29, 49))),
    seq: uint(bytes, 49, 8),
    amount: uint(bytes, 57, 6),
    currency,
    time: Number(uint(bytes, 66, 4)),
    claimKey: toHex(bytes.slice(70, 102)),
  };
}
