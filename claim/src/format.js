// Display formats: money in the currency's minor units, DSG from wei, dates in the phone's locale.
import { formatUnits } from "viem";

/** Minor-unit digits of an ISO 4217 currency (2 when the browser does not know it). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** 1234n, "EUR" -> "€12.34" (exact: from a decimal string, never through a float). */
export function formatMoney(minor, currency) {
  const digits = minorDigits(currency);
  const s = BigInt(minor).toString().padStart(digits + 1, "0");
  const decimal = digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s;
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(decimal);
  } catch {
    return `${decimal} ${currency}`;
  }
}

/** DSG wei (decimal string or bigint) -> "12.5 DSG", at most 6 decimals, never rounded up. */
export function formatDsg(wei) {
  const [whole, frac = ""] = formatUnits(BigInt(wei), 18).split(".");
  const cut = frac.slice(0, 6).replace(/0+$/, "");
  const grouped = BigInt(whole).toLocaleString();
  return `${grouped}${cut ? `${(1.5).toLocaleString().charAt(1)}${cut}` : ""} DSG`;
}

/** 6-decimal stablecoin units or any token amount with `decimals`. */
export function formatToken(amount, decimals, symbol) {
  const [whole, frac = ""] = formatUnits(BigInt(amount), decimals).split(".");
  const cut = frac.slice(0, 6).replace(/0+$/, "");
  return `${whole}${cut ? `.${cut}` : ""}${symbol ? ` ${symbol}` : ""}`;
}

export function formatTime(unix) {
  return new Date(unix * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

export function short(hex) {
  return `${hex.slice(0, 8)}…${hex.slice(-6)}`;
}
