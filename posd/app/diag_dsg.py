"""`posd diag` checks of DSG payments (DESIGN §10): the payout address, the price source, and
transfers in this till's slot that no request of it asked for (another till on the same slot)."""

from __future__ import annotations

from typing import Any

from posd.config.settings import Config


def _check(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    return {"check": name, "status": "ok" if ok else ("warn" if ok is None else "fail"),
            "detail": detail}  # fmt: skip


def dsg_checks(cfg: Config, till: str | None) -> list[dict[str, Any]]:
    from eth_utils import is_address

    dsg = cfg.dsg
    if not dsg.payout_address:
        if dsg.rate > 0 or dsg.price_feed:  # a price is set: the store means to take DSG
            return [
                _check(
                    "dsg_payout",
                    False,
                    "[dsg] payout_address is missing: the DSG tender is unavailable although "
                    "a DSG price is set",
                )
            ]
        return [_check("dsg_payout", None, "no [dsg] payout_address: the DSG tender is off")]
    out = []
    if not is_address(dsg.payout_address):
        out.append(
            _check(
                "dsg_payout",
                False,
                f"[dsg] payout_address {dsg.payout_address!r} is not an address",
            )
        )
    elif till and dsg.payout_address.lower() == till.lower():
        out.append(
            _check(
                "dsg_payout",
                False,
                f"[dsg] payout_address {dsg.payout_address} is the till's own address: "
                "use the store's receiving address",
            )
        )
    else:
        out.append(_check("dsg_payout", True, f"{dsg.payout_address}, slot {dsg.till_slot}"))
    out.append(_price_check(cfg))
    out.append(_slot_check(cfg))
    return out


def _price_check(cfg: Config) -> dict[str, Any]:
    dsg = cfg.dsg
    if dsg.rate > 0:
        return _check("dsg_price", True, f"fixed rate {dsg.rate} DSG wei per minor unit")
    if not dsg.price_feed:
        return _check("dsg_price", False, "neither [dsg] rate nor [dsg] price_feed is set")
    if not cfg.chain.rpc_url:
        return _check("dsg_price", False, "[dsg] price_feed needs [chain] rpc_url")
    from posd.chain.rpc import Rpc
    from posd.errors import PosdError
    from posd.receipt.layout import minor_digits
    from posd.till.dsg.price import PriceSource

    source = PriceSource(
        0, dsg.price_feed, dsg.price_max_age_s, minor_digits(cfg.store.currency),
        Rpc(cfg.chain.rpc_url, timeout=5.0),
    )  # fmt: skip
    try:
        rate = source.current()
    except PosdError as exc:
        return _check("dsg_price", False, str(exc))
    return _check("dsg_price", True, f"feed {dsg.price_feed}: {rate.text()} wei per minor unit")


def _slot_check(cfg: Config) -> dict[str, Any]:
    if not cfg.db_path.exists():
        return _check("dsg_slot", None, "no database yet")
    from posd.db.payments import Payments
    from posd.db.store import Store

    store = Store(cfg.db_path)
    try:
        strays = Payments(store).transfers(["unmatched"])
    finally:
        store.close()
    if strays:
        return _check(
            "dsg_slot",
            None,
            f"{len(strays)} transfer(s) in slot {cfg.dsg.till_slot} match no request of this "
            "till: another till of the store may use the same [dsg] till_slot (or a wallet "
            "rounded the amount); see `posd payments --state unmatched`",
        )
    return _check("dsg_slot", True, f"no stray transfers in slot {cfg.dsg.till_slot}")
