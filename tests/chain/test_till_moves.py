"""Issue 8 #3 end to end on a real anvil, through the `posd chain` commands: a till joins a store
only with its own consent (`join-request` on the till, `add-till --consent` by the owner), a
squatter's or stale consent is refused with its reason, and a removed till moves to a store of
another currency while its old receipts still claim at the old currency (DESIGN §4, §6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from helpers.flush_kit import Chain, TillKit, flusher, make_till, run_all
from web3 import Web3

from posd.chain import consent, contracts
from posd.chain.claim import claim
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.cli.main import main
from posd.proof.claimcode import ClaimPayload, claim_key

pytestmark = pytest.mark.anvil

EUR_RATE = 10**16
USD_RATE = 7 * 10**15


@pytest.fixture
def world(tmp_path: Path):
    """Two stores of two currencies, each with its own owner, on a fresh anvil; a till not
    yet in any store."""
    with Anvil() as anvil:
        admin, owner_a, owner_b, relayer = (Account.from_key(k) for k in DEV_KEYS[:4])
        cli = Cli(anvil.url, "")
        deployed = cli.ok("chain", "deploy", "--no-write-config", key=admin)
        cli.mining = deployed["mining"]
        cli.ok(
            "chain", "register-store", "--store", "Shop A", "--owner", owner_a.address,
            "--currency", "EUR", "--daily-cap", "1000000000", "--rate", str(EUR_RATE), key=admin,
        )  # fmt: skip
        cli.ok(
            "chain", "register-store", "--store", "Shop B", "--owner", owner_b.address,
            "--currency", "USD", "--daily-cap", "1000000000", "--rate", str(USD_RATE), key=admin,
        )  # fmt: skip
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        chain = Chain(anvil, w3, contracts.mining_contract(w3, cli.mining), admin)
        kit = make_till(tmp_path / "till", None)
        anvil.rpc("anvil_setBalance", kit.till, hex(10**21))
        yield cli, chain, kit, {"a": owner_a, "b": owner_b, "admin": admin, "relayer": relayer}
        kit.store.close()


class Cli:
    """`posd ...` in-process, on this node and mining contract."""

    def __init__(self, rpc: str, mining: str) -> None:
        self.rpc, self.mining, self.runner = rpc, mining, CliRunner()

    def run(self, *args: str, key=None, till_dir: Path | None = None):
        pre = ["--state-dir", str(till_dir)] if till_dir is not None else []
        target = ["--rpc", self.rpc] + (["--mining", self.mining] if self.mining else [])
        signer = ["--private-key", key.key.hex()] if key is not None else []
        return self.runner.invoke(main, [*pre, *args, *target, *signer, "--json"])

    def ok(self, *args: str, **kw) -> dict:
        out = self.run(*args, **kw)
        assert out.exit_code == 0, out.output
        return json.loads(out.output.strip().splitlines()[-1])

    def join_request(self, kit: TillKit, store: str, valid_for: str = "1d") -> dict:
        """On the till: its key file in its state dir signs the consent."""
        return self.ok(
            "chain", "join-request", "--store", store, "--valid-for", valid_for, till_dir=kit.dir
        )

    def add_till(self, store: str, till: str, blob: str, key) -> tuple[int, str]:
        out = self.run(
            "chain", "add-till", "--store", store, "--till", till, "--consent", blob, key=key
        )
        return out.exit_code, out.output

    def add_till_ok(self, store: str, till: str, blob: str, key) -> dict:
        """add-till that must succeed: its JSON."""
        return self.ok(
            "chain", "add-till", "--store", store, "--till", till, "--consent", blob, key=key
        )

    def join(self, kit: TillKit, store: str, owner) -> tuple[dict, dict]:
        """The till's join-request, then the owner's add-till with it: (request, added)."""
        req = self.join_request(kit, store)
        return req, self.add_till_ok(store, kit.till, req["consent"], owner)


def _payload(chain: Chain, kit: TillKit, seq: int, currency: str) -> ClaimPayload:
    """The receipt's claim payload, as its QR carries it (from the till's own proof row)."""
    amount, time = kit.store.one("SELECT amount, time FROM proofs WHERE seq = ?", (seq,))
    return ClaimPayload(
        chain_id=31337,
        contract=chain.mining.address,
        till=kit.till,
        seq=seq,
        amount=amount,
        currency=currency,
        time=time,
        claim_key=claim_key(kit.keys.claim_seed, kit.till, seq),
    )


def test_join_request_prints_a_consent_add_till_checks(world) -> None:
    cli, chain, kit, who = world
    req = cli.join_request(kit, "Shop A")
    assert req["till"] == kit.till and req["chain_id"] == 31337
    assert req["store_id"] == "0x" + contracts.store_id("Shop A").hex()
    assert len(bytes.fromhex(req["consent"][2:])) == consent.CONSENT_LEN
    assert req["consent"].endswith(req["signature"][2:])
    assert kit.keys.private_key.hex() not in json.dumps(req)  # the key never leaves the till

    # Shop B's owner cannot squat the till with a consent it gave to Shop A ...
    code, out = cli.add_till("Shop B", kit.till, req["consent"], who["b"])
    assert code == 1 and "another store" in out and "Shop B" in out
    # ... nor with a consent of another till, nor a malformed or truncated blob
    other = Account.create()
    code, out = cli.add_till("Shop A", other.address, req["consent"], who["a"])
    assert code == 1 and f"from till {kit.till}" in out
    for bad, why in ((req["consent"][:-2], "bytes, expected 125"), ("0xzz", "not hex")):
        code, out = cli.add_till("Shop A", kit.till, bad, who["a"])
        assert code == 1 and why in out, out
    # a consent whose signature was altered is refused before any transaction
    forged = req["consent"][:-4] + ("00" if req["consent"][-4:-2] != "00" else "01") + "1b"
    code, out = cli.add_till("Shop A", kit.till, forged, who["a"])
    assert code == 1 and "signature" in out
    # an expired consent: block time past its deadline
    short = cli.join_request(kit, "Shop A", valid_for="5s")
    chain.rpc("evm_increaseTime", 60)
    chain.mine()
    code, out = cli.add_till("Shop A", kit.till, short["consent"], who["a"])
    assert code == 1 and "expired" in out
    assert not chain.mining.functions.isTill(kit.till).call()

    # the right owner with the right consent: added; the same consent cannot be replayed
    added = cli.add_till_ok("Shop A", kit.till, req["consent"], who["a"])
    assert added["next_seq"] == 1 and chain.mining.functions.isTill(kit.till).call()
    assert contracts.till_store(chain.mining, kit.till) == req["store_id"]
    cli.ok("chain", "remove-till", "--till", kit.till, key=who["a"])
    code, out = cli.add_till("Shop A", kit.till, req["consent"], who["a"])
    assert code == 1 and "ConsentUsed" in out and "join-request" in out


def test_active_till_cannot_be_taken_by_another_store(world) -> None:
    cli, chain, kit, who = world
    a, _ = cli.join(kit, "Shop A", who["a"])
    b = cli.join_request(kit, "Shop B")  # even the till's own consent to B: A must let go first
    for key in (who["b"], who["admin"]):
        code, out = cli.add_till("Shop B", kit.till, b["consent"], key)
        assert code == 1 and "TillOfOtherStore" in out and "remove-till" in out
    assert contracts.till_store(chain.mining, kit.till) == a["store_id"]


def test_removed_till_moves_store_old_receipts_keep_their_currency(world) -> None:
    cli, chain, kit, who = world
    a, _ = cli.join(kit, "Shop A", who["a"])
    kit.sell(3)
    run_all(flusher(kit, chain), chain)
    assert chain.next_seq(kit.till) == 4

    cli.ok("chain", "remove-till", "--till", kit.till, key=who["a"])
    b, added = cli.join(kit, "Shop B", who["b"])
    assert added["next_seq"] == 4  # the till continues its own sequence in the new store
    assert contracts.till_store(chain.mining, kit.till) == b["store_id"]
    kit.sell(2, price_index=1)
    run_all(flusher(kit, chain), chain)
    assert chain.next_seq(kit.till) == 6

    m = chain.mining.functions
    batches = m.batchCount(kit.till).call()
    assert batches >= 2
    assert m.batchCurrency(kit.till, 0).call() == b"EUR"
    assert m.batchCurrency(kit.till, batches - 1).call() == b"USD"

    relayer = who["relayer"]
    old = _payload(chain, kit, 1, "EUR")
    recipient = Account.create().address
    result = claim(chain.w3, relayer, old, recipient)
    assert result.reward == old.amount * EUR_RATE  # Shop A's currency and rate, as committed
    new = _payload(chain, kit, 5, "USD")
    recipient2 = Account.create().address
    result = claim(chain.w3, relayer, new, recipient2)
    assert result.reward == new.amount * USD_RATE
    # and through the CLI a shopper uses: an old receipt of Shop A, after the move
    url = _payload(chain, kit, 2, "EUR").url("https://claim.example/c")
    out = cli.runner.invoke(
        main, ["claim", url, "--recipient", recipient, "--rpc", cli.rpc, "--private-key",
               relayer.key.hex(), "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output


def test_chain_status_and_diag_check_the_tills_store(world, tmp_path: Path) -> None:
    """`posd chain status` says whether the till sits in the configured store (``store_ok``);
    `posd diag` fails its chain_store check when the till belongs to another store."""
    from posd.app.diag import chain_checks
    from posd.config import settings

    cli, chain, kit, who = world

    def status(store: str) -> dict:
        config = tmp_path / f"{store}.toml"
        config.write_text(
            f'[store]\nname = "{store}"\n[till]\nstate_dir = "{kit.dir}"\n'
            f'[chain]\nrpc_url = "{chain.anvil.url}"\nmining_address = "{cli.mining}"\n'
        )
        out = CliRunner().invoke(main, ["chain", "status", "--config", str(config), "--json"])
        assert out.exit_code == 0, out.output
        cfg = settings.load(str(config))
        checks = {c["check"]: c for c in chain_checks(cfg, kit.keys)}
        return {**json.loads(out.output[out.output.index("{") :]), "diag": checks["chain_store"]}

    never = status("Shop A")
    assert (never["store_ok"], never["till_store"], never["diag"]["status"]) == (
        False, None, "warn"
    )  # fmt: skip
    a, _ = cli.join(kit, "Shop A", who["a"])
    mine, other = status("Shop A"), status("Shop B")
    assert mine["store_ok"] and mine["till_store"] == mine["store_id"] == a["store_id"]
    assert mine["diag"]["status"] == "ok"
    assert not other["store_ok"] and other["till_store"] == a["store_id"] != other["store_id"]
    assert other["diag"]["status"] == "fail" and a["store_id"] in other["diag"]["detail"]
