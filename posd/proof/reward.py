"""The reward a claim mints: rate per minor unit, halving by supply (DESIGN §4)."""

from __future__ import annotations


def era(supply: int, max_supply: int) -> int:
    """Halving era: k while supply < max_supply * (1 - 2**-(k+1)) (integer form as on chain)."""
    if supply >= max_supply:
        raise ValueError("mining has ended")
    k = 0
    while supply >= max_supply - (max_supply >> (k + 1)):
        k += 1
    return k


def reward(amount: int, rate: int, supply: int, max_supply: int) -> int:
    """What a claim mints: amount*rate >> era, clamped to what is left below max_supply."""
    k = era(supply, max_supply)
    return min((amount * rate) >> k, max_supply - supply)
