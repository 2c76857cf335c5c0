"""The claim gateway against a real anvil (DESIGN §9): shapes, states, refusals that never spend
gas, many claims at once on one nonce sequence, CORS, and the index resuming after a restart."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from gateway_kit import RATE, RunningGateway, World, http, post_many, wait_for

from posd.chain.devchain import DEV_KEYS, Anvil
from posd.db.gateway import GatewayDb

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def world():
    with Anvil() as anvil:
        w = World.create(anvil)
        w.commit([120, 0, 340] + [100 + i for i in range(60)])  # seq 2 is refunded
        yield w


@pytest.fixture(scope="module")
def gw(world, tmp_path_factory):
    with RunningGateway(world, tmp_path_factory.mktemp("gw")) as running:
        yield running


def test_config_shape(world, gw):
    status, body, _ = http("GET", gw.url + "/api/config")
    assert status == 200
    assert body == {
        "chain_id": 31337,
        "mining": world.mining.address,
        "token": world.token.address,
        "staking": None,
    }


def test_receipt_shapes(world, gw):
    till = world.till.address
    status, body, _ = http("GET", f"{gw.url}/api/receipts/{till}/3")
    assert status == 200
    leaf = world.leaves[3]
    assert body["state"] == "claimable"
    assert (body["batch_index"], body["amount"], body["time"]) == (0, 340, leaf.time)
    assert body["claim_address"] == leaf.claim_address
    assert body["reward"] == str(340 * RATE)
    assert all(p.startswith("0x") and len(p) == 66 for p in body["proof"]) and body["proof"]
    status, body, _ = http("GET", f"{gw.url}/api/receipts/{till}/2")
    assert (status, body["state"], body["reward"]) == (200, "refunded", "0")
    status, body, _ = http("GET", f"{gw.url}/api/receipts/{till}/1000")
    assert (status, body) == (200, {"state": "pending", "till": till, "seq": 1000, "next_seq": 64})
    for bad in (f"{till}/0", f"{till}/x", "0x12/1", f"{till}/{2**64}"):
        status, body, _ = http("GET", f"{gw.url}/api/receipts/{bad}")
        assert status == 400 and body["error"]["code"] == "bad_request", bad


def test_claim_lands_and_repeat_is_same_answer(world, gw):
    recipient = Account.create().address
    body = world.claim_body(1, recipient)
    status, first, _ = http("POST", gw.url + "/api/claims", body)
    assert status == 202 and first["reward"] == str(120 * RATE)
    status, again, _ = http("POST", gw.url + "/api/claims", body)  # a retry: no second tx
    assert (status, again) == (202, first)
    wait_for(lambda: world.dsg(recipient) == 120 * RATE)
    other = Account.create().address
    status, err, _ = http("POST", gw.url + "/api/claims", world.claim_body(1, other))
    assert status == 409 and err["error"]["code"] == "already_claimed"
    url = f"{gw.url}/api/receipts/{world.till.address}/1"
    wait_for(lambda: http("GET", url)[1].get("relay", {}).get("state") == "mined")
    status, st, _ = http("GET", url)
    assert (st["state"], st["recipient"]) == ("claimed", recipient)
    receipt = world.w3.eth.get_transaction_receipt(first["tx_hash"])
    assert receipt["status"] == 1  # (the very first mint costs more: no gas target here)


def test_refusals_never_spend_gas(world, gw):
    relayer = gw.account.address
    before = (world.balance(relayer), world.w3.eth.get_transaction_count(relayer, "pending"))
    recipient = Account.create().address
    cases = [
        # a signature made for another recipient: the reward cannot be redirected
        (world.claim_body(4, recipient, signed_for=Account.create().address), 400, "bad_signature"),
        (world.claim_body(2, recipient), 409, "refunded"),
        (world.claim_body(999, recipient), 409, "pending"),
        ({"till": world.till.address, "seq": 5}, 400, "bad_request"),
        ({**world.claim_body(5, recipient), "signature": "0x1234"}, 400, "bad_request"),
        ({**world.claim_body(5, recipient), "recipient": "0x" + "0" * 40}, 400, "bad_request"),
    ]
    for body, status, code in cases:
        got, answer, _ = http("POST", gw.url + "/api/claims", body)
        assert (got, answer["error"]["code"]) == (status, code), body
    got, answer, _ = http("POST", gw.url + "/api/claims", raw=b"{not json")
    assert (got, answer["error"]["code"]) == (400, "bad_request")
    got, answer, _ = http("POST", gw.url + "/api/claims", raw=b"x" * (16 * 1024 + 1))
    assert (got, answer["error"]["code"]) == (413, "too_large")
    world.anvil.rpc("evm_mine")
    after = (world.balance(relayer), world.w3.eth.get_transaction_count(relayer, "pending"))
    assert after == before
    assert not world.is_claimed(4)


def test_many_claims_at_once_one_nonce_sequence(world, gw):
    seqs = list(range(10, 50))
    recipients = {s: Account.create().address for s in seqs}
    answers = post_many(gw.url, [world.claim_body(s, recipients[s]) for s in seqs])
    assert all(status == 202 for status, _ in answers), answers
    hashes = [a["tx_hash"] for _, a in answers]
    assert len(set(hashes)) == len(seqs)
    wait_for(lambda: all(world.is_claimed(s) for s in seqs), 60)
    nonces = set()
    for h in hashes:
        tx = world.w3.eth.get_transaction(h)
        nonces.add(tx["nonce"])
        receipt = world.w3.eth.get_transaction_receipt(h)
        # a relayed claim costs what a direct one does: ≤ 83,000 gas for a new holder
        assert receipt["status"] == 1 and receipt["gasUsed"] <= 83_000
    assert len(nonces) == len(seqs)  # no collision
    for s in seqs:
        assert world.dsg(recipients[s]) == world.leaves[s].amount * RATE


def test_burst_is_rate_limited_without_gas(world, tmp_path):
    with RunningGateway(world, tmp_path, claims_per_minute=3) as small:
        before = world.balance(small.account.address)
        bodies = [world.claim_body(999, Account.create().address) for _ in range(6)]
        codes = [http("POST", small.url + "/api/claims", b)[1]["error"]["code"] for b in bodies]
        assert codes[:3] == ["pending"] * 3 and codes[3:] == ["rate_limited"] * 3
        status, _, _ = http("POST", small.url + "/api/claims", bodies[0])
        assert status == 429
        assert world.balance(small.account.address) == before


def test_budget_allow_list_and_minimum(world, tmp_path):
    recipient = Account.create().address
    with RunningGateway(world, tmp_path / "a", stores=["Other Shop"]) as gw2:
        status, body, _ = http("POST", gw2.url + "/api/claims", world.claim_body(6, recipient))
        assert (status, body["error"]["code"]) == (403, "store_not_served")
    with RunningGateway(world, tmp_path / "b", min_amount=10_000) as gw2:
        status, body, _ = http("POST", gw2.url + "/api/claims", world.claim_body(6, recipient))
        assert (status, body["error"]["code"]) == (409, "below_min_amount")
    with RunningGateway(world, tmp_path / "c", gas_budget_wei=1) as gw2:
        status, body, _ = http("POST", gw2.url + "/api/claims", world.claim_body(6, recipient))
        assert (status, body["error"]["code"]) == (503, "relay_unavailable")
    poor = Account.create()
    world.anvil.rpc("anvil_setBalance", poor.address, hex(10**15))
    with RunningGateway(world, tmp_path / "d", key=poor.key.hex()) as gw2:
        status, body, _ = http("POST", gw2.url + "/api/claims", world.claim_body(6, recipient))
        assert (status, body["error"]["code"]) == (503, "relay_unavailable")
        assert world.balance(poor.address) == 10**15
    assert not world.is_claimed(6)


def test_cors_only_for_configured_origins(world, tmp_path):
    allowed = "https://shop.example"
    with RunningGateway(world, tmp_path, cors_origins=[allowed]) as gw2:
        _, _, h = http("GET", gw2.url + "/api/config", headers={"Origin": allowed})
        assert h.get("access-control-allow-origin") == allowed
        _, _, h = http("GET", gw2.url + "/api/config", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in h
        pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        status, _, h = http("OPTIONS", gw2.url + "/api/claims", headers=pre)
        assert status >= 400 and "access-control-allow-origin" not in h
    # no cors_origins at all: never an allow header
    with RunningGateway(world, tmp_path / "none") as gw3:
        _, _, h = http("GET", gw3.url + "/api/config", headers={"Origin": allowed})
        assert "access-control-allow-origin" not in h


def test_page_missing_is_a_clear_page_and_metrics(world, gw):
    for path in ("/", "/c", "/claim.js"):
        status, body, _ = http("GET", gw.url + path)
        assert status == 503 and "not built" in body
    status, body, _ = http("GET", gw.url + "/metrics")
    assert status == 200 and "posd_gateway_claims_total" in body


def test_page_is_served_from_dist(world, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>claim</title>")
    (dist / "claim.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    with RunningGateway(world, tmp_path / "s", page_dir=dist) as gw2:
        for path in ("/", "/c"):
            status, body, headers = http("GET", gw2.url + path)
            assert status == 200 and body.startswith("<!doctype html>")
            assert headers["referrer-policy"] == "no-referrer"
        assert http("GET", gw2.url + "/claim.js")[1] == "console.log(1)"
        assert http("GET", gw2.url + "/%2e%2e/secret.txt")[0] == 404
        assert http("GET", gw2.url + "/nope.js")[0] == 404
        status, body, _ = http("GET", gw2.url + "/api/nothing")
        assert (status, body["error"]["code"]) == (404, "not_found")


def test_index_resumes_after_restart(world, tmp_path):
    state = tmp_path / "idx"
    with RunningGateway(world, state) as first:
        cursor = first.gateway.index.cursor
        assert cursor >= 0 and first.gateway.db.batch_count() == 1
    world.commit([77, 78])
    db = GatewayDb(state / "gateway.db")
    assert int(db.get("index_block")) == cursor  # persisted
    db.close()
    with RunningGateway(world, state) as second:  # starts from the cursor, not from block 0
        assert second.gateway.db.batch_count() == 2
        status, body, _ = http(
            "GET", f"{second.url}/api/receipts/{world.till.address}/{max(world.leaves)}"
        )
        assert body["state"] == "claimable" and body["batch_index"] == 1


def test_posd_claim_reports_the_same_states_as_the_gateway(world, gw):
    from click.testing import CliRunner

    from posd.cli.claim import claim as claim_cmd
    from posd.proof.claimcode import ClaimPayload, claim_key

    runner = CliRunner()
    for seq in (1, 2, 3, 1000):  # claimed, refunded, claimable, pending
        leaf = world.leaves.get(seq) or world.leaves[3]
        url = ClaimPayload(
            chain_id=31337,
            contract=world.mining.address,
            till=world.till.address,
            seq=seq,
            amount=leaf.amount,
            currency="EUR",
            time=leaf.time,
            claim_key=claim_key(world.seed, world.till.address, seq),
        ).url("https://claim.despend.example/c")
        out = runner.invoke(claim_cmd, [url, "--status", "--json", "--rpc", world.anvil.url])
        assert out.exit_code == 0, out.output
        _, page, _ = http("GET", f"{gw.url}/api/receipts/{world.till.address}/{seq}")
        page.pop("relay", None)
        assert json.loads(out.output) == page
    out = runner.invoke(
        claim_cmd,
        [url, "--recipient", Account.create().address, "--rpc", world.anvil.url,
         "--private-key", DEV_KEYS[7], "--json"],
    )  # fmt: skip
    assert out.exit_code == 1 and json.loads(out.output)["error"]["code"] == "pending"
