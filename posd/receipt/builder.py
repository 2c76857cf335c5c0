"""A stored sale as a :class:`~posd.receipt.layout.Receipt`, its claim URL derived afresh.

The claim key is never stored: every print (and every reprint, marked COPY) derives it again
from the key file's claim seed *that the sale was made under* (its ``seed_id``: a till whose
database was restored takes a new seed, and old sales keep theirs) and the sale's seq (DESIGN §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from drivers.masking import mask_secrets
from posd.config import keyfile
from posd.config.settings import Config
from posd.db import meta
from posd.db.members import Members
from posd.db.meta import Meta
from posd.db.outbox import Outbox, UnknownSale
from posd.db.sales import Sales
from posd.db.store import Store
from posd.proof.claimcode import ClaimPayload, address_of, claim_key
from posd.receipt.layout import Member, Receipt, ReceiptLine, Tender

if TYPE_CHECKING:
    from PIL.Image import Image


def known_chain_id(config: Config, store: Store) -> int | None:
    """The chain id from the config, else the one the daemon learnt from its node."""
    return config.chain.chain_id or Meta(store).get(meta.CHAIN_ID) or None


@dataclass
class ReceiptBuilder:
    """Turns a stored sale into a Receipt (the claim URL derived afresh from the key file)."""

    config: Config
    store: Store
    keys: keyfile.TillKeys
    chain_id: int = 0

    @classmethod
    def open(cls, config: Config) -> ReceiptBuilder:
        """For commands outside the daemon (`posd receipt`): same database, same key file."""
        keys, _ = keyfile.load_configured(config)
        store = Store(config.db_path)
        return cls(config, store, keys, known_chain_id(config, store) or 0)

    def build(self, seq: int, copy: bool = False) -> Receipt:
        sales = Sales(self.store)
        sale, proof = sales.get(seq), Outbox(self.store).get(seq)
        if sale is None or proof is None:
            raise UnknownSale(f"no sale with seq {seq}")
        if sale.filler:
            raise UnknownSale(f"seq {seq} is a filler record for a lost sale: no receipt")
        if sale.adopted:
            raise UnknownSale(
                f"seq {seq} was lost with a restored database and rebuilt from the chain: its "
                "goods and claim key are not kept, so no receipt (the shopper's printed one holds)"
            )
        lines = [
            ReceiptLine(r.name, Decimal(r.qty), r.unit_price, r.total, Decimal(r.tax_rate))
            for r in sales.lines(seq)
        ]
        # a reference stored before the till masked card numbers is masked when printed (§7);
        # a DSG one is the till's own text (exact DSG amount, tx): 18 decimals may pass Luhn
        tenders = [
            Tender(
                p.tender,
                p.amount,
                p.reference if p.tender == "dsg" else mask_secrets(p.reference, barcode=False),
            )
            for p in sales.payments(seq)
        ]
        c, s = self.config, self.config.store
        return Receipt(
            store_name=s.name,
            store_address=s.address,
            tax_id=s.tax_id,
            currency=sale.currency,
            till_name=c.till.name,
            till_address=sale.till,
            seq=seq,
            time=proof.time,
            lines=lines,
            tenders=tenders,
            total=sale.total,
            change=sale.change,
            reward_estimate=proof.amount * c.chain.reward_rate,
            claim_url=(
                self.claim_url(
                    seq, proof.amount, sale.currency, proof.time, sale.seed_id, proof.claim_address
                )
                if proof.amount
                else ""
            ),
            copy=copy,
            footer=c.receipt.footer,
            width=c.receipt.width,
            refunded=sale.refunded,
            member=self._member(seq, lines),
        )

    def _member(self, seq: int, lines: list[ReceiptLine]) -> Member | None:
        """The sale's member discount (DESIGN §11); each line printed at its undiscounted price."""
        data = Members(self.store).sale_member(seq)
        if data is None:
            return None
        for line, discount in zip(lines, data.get("lines") or [], strict=False):
            line.member_discount = int(discount)
        return Member(
            data["member"], int(data["tier"]), data["discount_percent"], int(data["discount"])
        )

    def claim_url(
        self,
        seq: int,
        amount: int,
        currency: str,
        at: int,
        seed_id: int | None = None,
        expect: str | None = None,
    ) -> str:
        """The receipt's claim URL; ``seed_id``: the sale's claim seed (default: the current).

        ``expect``: the claim address in the sale's proof. A key that does not match it (a key
        file restored from before the sale's seed) is refused, never printed as if it were good.
        """
        seed_id = self.keys.seed_id if seed_id is None else seed_id
        key = claim_key(self.keys.seed(seed_id), self.keys.address, seq)
        if expect is not None and address_of(key).lower() != expect.lower():
            raise keyfile.KeyFileError(
                f"the key file's claim seed {seed_id} does not match sale {seq}'s proof: "
                "restore the key file this till had when it made that sale"
            )
        mining = self.config.chain.mining_address or "0x" + "00" * 20
        payload = ClaimPayload(
            chain_id=self.chain_id,
            contract=mining,
            till=self.keys.address,
            seq=seq,
            amount=amount,
            currency=currency,
            time=at,
            claim_key=key,
        )
        return payload.url(self.config.receipt.claim_base_url)

    def sale_claim_url(self, seq: int) -> str:
        """The claim URL of a stored sale ("" when there is no such sale)."""
        proof, sale = Outbox(self.store).get(seq), Sales(self.store).get(seq)
        if proof is None or sale is None or sale.filler or sale.adopted:
            return ""
        return self.claim_url(
            seq, proof.amount, sale.currency, proof.time, sale.seed_id, proof.claim_address
        )

    def png(self, seq: int, copy: bool = True) -> Image:
        from posd.receipt.png import render_png  # PIL is heavy: only `posd receipt --png` needs it

        return render_png(self.build(seq, copy))
