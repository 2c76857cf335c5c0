// EIP-712 signatures: the shopper's claim with the receipt key (§4), kept inside this page.
import { privateKeyToAccount } from "viem/accounts";

export const CLAIM_TYPES = {
  Claim: [
    { name: "till", type: "address" },
    { name: "seq", type: "uint64" },
    { name: "recipient", type: "address" },
  ],
};

export function claimAddressOf(claimKey) {
  return privateKeyToAccount(claimKey).address;
}

/** Sign Claim(till, seq, recipient) with the receipt's claim key; only the signature leaves. */
export function signClaim(claimKey, { chainId, mining, till, seq, recipient }) {
  return privateKeyToAccount(claimKey).signTypedData({
    domain: { name: "DSG Mining", version: "1", chainId: Number(chainId), verifyingContract: mining },
    types: CLAIM_TYPES,
    primaryType: "Claim",
    message: { till, seq: BigInt(seq), recipient },
  });
}
