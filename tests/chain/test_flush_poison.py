"""Issue 8 #4: a proof the batch records cannot carry never blocks the flusher.

A sale stored with a total of 2^48 (before the till bounded amounts) made every flush fail:
the proof's record cannot be encoded, and no later proof could pass it (seqs are gap-free).
Now the flusher turns it into a zero-amount record to the zero address (unclaimable, like a
filler), raises a visible alert and logs an event with what the proof held, and goes on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.flush_kit import deploy_chain, flusher, make_till, queue_status, run_all
from helpers.legacy import write_legacy_sale

from posd.chain.devchain import Anvil

pytestmark = pytest.mark.anvil
POISON = 1 << 48


def _poison_sale(kit) -> None:
    line = ("SIM-GOLD", "Gold", "1", POISON, POISON, "0")
    write_legacy_sale(kit.store.path, kit.till, "0x" + "11" * 20, POISON, line)


def test_an_unencodable_proof_is_voided_and_the_rest_committed(tmp_path: Path) -> None:
    with Anvil() as anvil:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        _poison_sale(kit)
        kit.sell(3)  # seqs 2..4
        run_all(flusher(kit, chain), chain, timeout=30)
        assert chain.next_seq(kit.till) == 5  # gap-free: seq 1 is on chain too
        row = kit.store.one("SELECT amount, claim_address, state FROM proofs WHERE seq = 1")
        assert (row[0], row[1], row[2]) == (0, "0x" + "00" * 20, "confirmed")
        assert kit.states() == {"confirmed": 4}
        event = kit.store.one("SELECT data FROM events WHERE kind = 'proof_voided'")
        assert event is not None and str(POISON) in event[0]
        alert = queue_status(kit.store)["link"].get("alert") or {}
        assert alert.get("kind") == "proof_voided"
