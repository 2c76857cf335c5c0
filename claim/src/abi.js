// The contract functions the page calls (DESIGN §4, §11): exact names and argument order.
import { parseAbi } from "viem";

export const MINING_ABI = parseAbi([
  "function claim(address till, uint256 batchIndex, uint64 seq, uint48 amount, uint32 time, address claimAddress, bytes32[] proof, address recipient, bytes signature)",
]);

export const TOKEN_ABI = parseAbi([
  "function balanceOf(address) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
]);

export const STAKING_ABI = parseAbi([
  "function stake(uint256 amount)",
  "function requestUnstake(uint256 amount)",
  "function withdraw()",
  "function claimDividends()",
  "function stakedOf(address) view returns (uint256)",
  "function tierOf(address) view returns (uint256)",
  "function tierThresholds(uint256) view returns (uint256)",
  "function cooldown() view returns (uint256)",
  "function earned(address) view returns (uint256)",
  "function unstakeRequest(address) view returns (uint256 amount, uint256 availableAt)",
  "function profitToken() view returns (address)",
]);
