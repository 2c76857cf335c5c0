"""End to end on a real anvil (127.0.0.1, started by the test through posd.chain.devchain):
deploy and administer with the CLI, commit batches with web3, then claim from the claim URL
alone (the proof rebuilt from the committing transaction's calldata by posd.chain.claim)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from posd import proof
from posd.chain import consent, contracts
from posd.chain.claim import ClaimError, claim, prepare_claim
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.cli.chain import chain
from posd.cli.claim import claim as claim_cmd
from posd.proof.claimcode import ClaimPayload, claim_key

pytestmark = pytest.mark.anvil

RATE = 10**16
T0 = 1_764_000_000


@pytest.fixture(scope="module")
def node():
    with Anvil() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def setup(node):
    runner = CliRunner()
    admin, owner, till, gateway = (Account.from_key(k) for k in DEV_KEYS[:4])
    out = runner.invoke(
        chain, ["deploy", "--rpc", node.url, "--private-key", admin.key.hex(), "--json"]
    )
    assert out.exit_code == 0, out.output
    deployed = json.loads(out.output.strip().splitlines()[-1])
    assert deployed["chain_id"] == 31337
    mining = deployed["mining"]
    common = ["--rpc", node.url, "--mining", mining, "--json"]
    out = runner.invoke(
        chain,
        [
            "register-store",
            "--store",
            "Corner Shop",
            "--owner",
            owner.address,
            "--currency",
            "EUR",
            "--daily-cap",
            "1000000",
            "--rate",
            str(RATE),
            "--private-key",
            admin.key.hex(),
        ]
        + common,
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["store_id"] == "0x" + contracts.store_id("Corner Shop").hex()
    w3 = Web3(Web3.HTTPProvider(node.url))
    s = {
        "w3": w3,
        "admin": admin,
        "owner": owner,
        "till": till,
        "gateway": gateway,
        "mining": contracts.mining_contract(w3, mining),
        "token": contracts.token_contract(w3, deployed["token"]),
        "seed": os.urandom(32),
        "runner": runner,
        "node": node,
    }
    out = _add_till(s, "Corner Shop", _consent(till, mining, "Corner Shop"), owner, "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["next_seq"] == 1
    return s


def _leaves(s, first, amounts):
    till = s["till"].address
    return [
        proof.Leaf(
            till,
            first + i,
            a,
            T0 + first + i,
            Account.from_key(claim_key(s["seed"], till, first + i)).address,
        )
        for i, a in enumerate(amounts)
    ]


def _url(s, leaf):
    payload = ClaimPayload(
        chain_id=31337,
        contract=s["mining"].address,
        till=leaf.till,
        seq=leaf.seq,
        amount=leaf.amount,
        currency="EUR",
        time=leaf.time,
        claim_key=claim_key(s["seed"], leaf.till, leaf.seq),
    )
    return payload.url("https://claim.despend.example/c")


def _consent(till, mining: str, store: str, valid_for: int = 3600) -> str:
    """The till's JoinStore consent blob, as `posd chain join-request` prints it (DESIGN §4)."""
    join = consent.request(bytes(till.key), 31337, mining, contracts.store_id(store), valid_for)
    return join.to_hex()


def _chain_cli(s, *args: str, key=None):
    """`posd chain ARGS` on the module's node and mining contract, signed by ``key`` if given."""
    signer = ["--private-key", key.key.hex()] if key is not None else []
    target = ["--rpc", s["node"].url, "--mining", s["mining"].address]
    return s["runner"].invoke(chain, [*args, *target, *signer])


def _add_till(s, store: str, blob: str, key, *args: str):
    """`posd chain add-till` of the module's till into ``store``, with the till's consent."""
    till = s["till"].address
    return _chain_cli(
        s, "add-till", "--store", store, "--till", till, "--consent", blob, *args, key=key
    )


def _claim_cli(s, url: str, recipient: str, *args: str):
    """`posd claim URL --recipient R ARGS` on the module's node, sent by DEV_KEYS[6]."""
    signer = ["--rpc", s["node"].url, "--private-key", DEV_KEYS[6]]
    return s["runner"].invoke(claim_cmd, [url, "--recipient", recipient, *signer, *args])


@pytest.fixture(scope="module")
def committed(setup):
    s = setup
    w3, mining, till = s["w3"], s["mining"], s["till"]
    batch1 = _leaves(s, 1, [120, 0, 340, 560, 780])
    contracts.send(w3, till, mining.functions.commitBatch(1, proof.encode_records(batch1)))
    # the relayed form: the gateway pays, the till signs
    batch2 = _leaves(s, 6, list(range(100, 140)))
    data = proof.encode_records(batch2)
    sig = proof.sign_digest(
        bytes(till.key), proof.batch_digest(31337, mining.address, till.address, 6, data)
    )
    receipt = contracts.send(
        w3, s["gateway"], mining.functions.commitBatchFor(till.address, 6, data, sig)
    )
    ev = mining.events.BatchCommitted().process_receipt(receipt)[0]["args"]
    assert (ev["batchIndex"], ev["firstSeq"], ev["count"]) == (1, 6, 40)
    assert ev["root"] == proof.merkle_root([proof.leaf_hash(x) for x in batch2])
    return batch1, batch2


def test_claim_from_url_alone(setup, committed):
    s = setup
    batch1, _ = committed
    recipient = Account.create().address
    relayer = Account.from_key(DEV_KEYS[5])  # anyone may send the claim
    result = claim(s["w3"], relayer, _url(s, batch1[2]), recipient)
    assert result.reward == 340 * RATE and result.batch_index == 0 and result.seq == 3
    assert s["token"].functions.balanceOf(recipient).call() == 340 * RATE
    receipt = s["w3"].eth.get_transaction_receipt(result.tx_hash)
    (ev,) = s["mining"].events.Claimed().process_receipt(receipt, errors=DISCARD)
    assert (ev["args"]["till"], ev["args"]["seq"], ev["args"]["recipient"]) == (
        s["till"].address,
        3,
        recipient,
    )
    assert s["mining"].functions.isClaimed(s["till"].address, 3).call()
    with pytest.raises(ClaimError) as err:
        claim(s["w3"], relayer, _url(s, batch1[2]), recipient)
    assert err.value.code == "already_claimed"


def test_claim_from_relayed_commit_via_cli(setup, committed):
    s = setup
    _, batch2 = committed
    recipient = Account.create().address
    out = _claim_cli(s, _url(s, batch2[17]), recipient, "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["reward"] == batch2[17].amount * RATE and data["batch_index"] == 1
    assert s["token"].functions.balanceOf(recipient).call() == batch2[17].amount * RATE


def test_claim_errors(setup, committed):
    s = setup
    batch1, _ = committed
    w3, relayer = s["w3"], Account.from_key(DEV_KEYS[5])
    recipient = Account.create().address
    with pytest.raises(ClaimError) as err:
        claim(w3, relayer, _url(s, batch1[1]), recipient)  # a refunded sale: amount 0
    assert err.value.code == "refunded"
    later = _leaves(s, 46, [5])[0]
    with pytest.raises(ClaimError) as err:
        claim(w3, relayer, _url(s, later), recipient)
    assert err.value.code == "pending"
    wrong_chain = ClaimPayload.from_url(_url(s, batch1[0]))
    wrong_chain = ClaimPayload(**{**wrong_chain.__dict__, "chain_id": 1})
    with pytest.raises(ClaimError) as err:
        prepare_claim(w3, wrong_chain, recipient)
    assert err.value.code == "wrong_chain"
    wrong_contract = ClaimPayload(
        **{**wrong_chain.__dict__, "chain_id": 31337, "contract": Account.create().address}
    )
    with pytest.raises(ClaimError) as err:
        prepare_claim(w3, wrong_contract, recipient)
    assert err.value.code == "wrong_contract"
    out = _claim_cli(s, _url(s, later), recipient, "--json")
    assert out.exit_code == 1 and json.loads(out.output)["error"]["code"] == "pending"
    out = _claim_cli(s, "https://x/c#AAAA", recipient)
    assert out.exit_code == 2 and "bad claim URL" in out.output


def test_seq_mismatch_and_remove_till_on_anvil(setup, committed):
    s = setup
    w3, mining, till = s["w3"], s["mining"], s["till"]
    assert mining.functions.nextSeq(till.address).call() == 46
    again = proof.encode_records(_leaves(s, 6, [1]))
    with pytest.raises(contracts.ChainError) as err:
        contracts.send(w3, till, mining.functions.commitBatch(6, again))
    assert err.value.reason == "SeqMismatch"
    out = _chain_cli(s, "remove-till", "--till", till.address, "--json", key=s["owner"])
    assert out.exit_code == 0, out.output
    with pytest.raises(contracts.ChainError) as err:
        contracts.send(
            w3, till, mining.functions.commitBatch(46, proof.encode_records(_leaves(s, 46, [1])))
        )
    assert err.value.reason == "NotTill"
    # committed batches stay claimable
    recipient = Account.create().address
    result = claim(w3, Account.from_key(DEV_KEYS[5]), _url(s, committed[0][4]), recipient)
    assert result.reward == 780 * RATE
    again = _consent(till, mining.address, "Corner Shop", valid_for=7200)  # consents are single-use
    out = _add_till(s, "Corner Shop", again, s["admin"], "--json")
    assert out.exit_code == 0 and json.loads(out.output)["next_seq"] == 46


def test_cli_errors_are_clear(setup):
    s = setup
    nowhere = _consent(s["till"], s["mining"].address, "Nowhere")
    out = _add_till(s, "Nowhere", nowhere, s["owner"])
    assert out.exit_code == 1 and "UnknownStore" in out.output
    out = _chain_cli(s, "remove-till", "--till", s["till"].address)  # no signing key
    assert out.exit_code == 2 and "--private-key" in out.output
    out = s["runner"].invoke(
        chain,
        [
            "register-store",
            "--store",
            "X",
            "--owner",
            s["owner"].address,
            "--currency",
            "EURO",
            "--daily-cap",
            "1",
            "--rpc",
            s["node"].url,
            "--private-key",
            DEV_KEYS[0],
        ],
    )
    assert out.exit_code == 2 and "currency" in out.output


def test_deploy_with_keystore_writes_config(node, tmp_path):
    acct = Account.from_key(DEV_KEYS[7])
    ks = tmp_path / "admin.json"
    ks.write_text(json.dumps(Account.encrypt(acct.key, "s3cret", iterations=2)))
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    cfg = tmp_path / "posd.toml"
    cfg.write_text('[store]\nname = "Corner Shop"\n')
    try:
        from posd.cli.main import main
    except ImportError:
        pytest.skip("posd.cli.main not available")
    out = CliRunner().invoke(
        main,
        [
            "--config",
            str(cfg),
            "chain",
            "deploy",
            "--rpc",
            node.url,
            "--keystore",
            str(ks),
            "--passphrase-file",
            str(pw),
            "--json",
            "--max-supply",
            "1000",
        ],
    )
    assert out.exit_code == 0, out.output
    deployed = json.loads(out.output.strip().splitlines()[-1])
    text = cfg.read_text()
    assert deployed["mining"] in text and deployed["token"] in text
    w3 = Web3(Web3.HTTPProvider(node.url))
    mining = contracts.mining_contract(w3, deployed["mining"])
    assert mining.functions.maxSupply().call() == 1000
    assert mining.functions.owner().call() == acct.address
    out = CliRunner().invoke(
        chain,
        ["deploy", "--rpc", node.url, "--keystore", str(ks), "--passphrase-env", "POSD_TEST_NOPE"],
    )
    assert out.exit_code == 1 and "POSD_TEST_NOPE" in out.output
