// The shopper's own wallet through EIP-1193 (window.ethereum): accounts, chain, reads and sends.
// Every request goes to the wallet; the page itself talks to no node.
import { createClient, custom, getAddress } from "viem";
import { getBlock, readContract, signTypedData, waitForTransactionReceipt, writeContract } from "viem/actions";

export function provider() {
  return typeof window !== "undefined" && window.ethereum && typeof window.ethereum.request === "function"
    ? window.ethereum
    : null;
}

export class Wallet {
  constructor(eth, account, chainId) {
    this.eth = eth;
    this.account = account;
    this.chainId = chainId;
    // a bare client with only the actions used keeps the bundle small (no decorators)
    this.client = createClient({ account, transport: custom(eth), pollingInterval: 1000 });
  }

  /** eth_requestAccounts; the first account. */
  static async connect() {
    const eth = provider();
    if (!eth) throw new Error("no wallet found in this browser");
    const accounts = await eth.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("the wallet shared no account");
    const chainId = Number(BigInt(await eth.request({ method: "eth_chainId" })));
    return new Wallet(eth, getAddress(accounts[0]), chainId);
  }

  /** Make sure the wallet is on `chainId` (asks it to switch once); throws with what to do. */
  async ensureChain(chainId) {
    this.chainId = Number(BigInt(await this.eth.request({ method: "eth_chainId" })));
    if (this.chainId === Number(chainId)) return;
    try {
      await this.eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: `0x${Number(chainId).toString(16)}` }] });
      this.chainId = Number(BigInt(await this.eth.request({ method: "eth_chainId" })));
    } catch {
      /* reported below */
    }
    if (this.chainId !== Number(chainId)) {
      throw new Error(`your wallet is on chain ${this.chainId}; switch it to chain ${chainId} and try again`);
    }
  }

  /** The latest block's timestamp: cool-downs run on chain time, not the phone's clock. */
  async chainTime() {
    return Number((await getBlock(this.client, { blockTag: "latest" })).timestamp);
  }

  read(address, abi, functionName, args = []) {
    return readContract(this.client, { address, abi, functionName, args });
  }

  /** Send a contract call from the wallet (it pays the gas); resolves to the transaction hash. */
  write(address, abi, functionName, args = []) {
    return writeContract(this.client, { address, abi, functionName, args, chain: null });
  }

  waitFor(hash) {
    return waitForTransactionReceipt(this.client, { hash, pollingInterval: 1000, timeout: 180_000 });
  }

  signTypedData(typed) {
    return signTypedData(this.client, typed);
  }
}

/** A short reason from a wallet or viem error, without a stack. */
export function walletMessage(err) {
  if (!err) return "unknown error";
  if (err.code === 4001 || /rejected|denied/i.test(err.shortMessage || err.message || "")) return "you declined it in your wallet";
  const text = err.shortMessage || err.details || err.message || String(err);
  return text.split("\n")[0].slice(0, 200);
}
