"""The staking contract on a real anvil: `posd chain deploy` (staking + test stablecoin, --json,
config written), `set-tiers`, `deposit-profit` and their errors, and `--simulate`'s set-up
(deployed on first start, recorded in simulate.json, deployed on the next start of a state dir
from before staking)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account
from helpers.chainfixtures import deploy_source
from web3 import Web3

from posd.app.simulate import Simulation, read_settings, write_settings
from posd.chain import contracts
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.cli.main import main as cli
from posd.config import keyfile
from posd.config import settings as configmod

pytestmark = pytest.mark.anvil

DSG = 10**18


@pytest.fixture(scope="module")
def node():
    with Anvil() as anvil:
        yield anvil


def run(args: list[str]) -> tuple[int, str]:
    out = CliRunner().invoke(cli, args, catch_exceptions=False)
    return out.exit_code, out.output


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_deploy_set_tiers_and_deposit_profit(node, tmp_path: Path):
    admin, staker, stranger = (Account.from_key(k) for k in DEV_KEYS[:3])
    config = tmp_path / "posd.toml"
    config.write_text('[store]\nname = "Corner Shop"\n')
    key = ["--rpc", node.url, "--private-key", admin.key.hex()]
    code, out = run(["chain", "deploy", "--config", str(config), "--json", *key])
    assert code == 0, out
    deployed = last_json(out)
    assert set(deployed) == {"token", "mining", "staking", "profit_token", "chain_id"}
    assert deployed["chain_id"] == 31337
    written = tomllib.loads(config.read_text())["chain"]
    assert written["staking_address"] == deployed["staking"]
    assert written["profit_token_address"] == deployed["profit_token"]
    assert written["mining_address"] == deployed["mining"]

    w3 = Web3(Web3.HTTPProvider(node.url))
    staking = contracts.staking_contract(w3, deployed["staking"])
    stable = contracts.erc20_contract(w3, deployed["profit_token"])
    assert staking.functions.stakingToken().call() == deployed["token"]
    assert staking.functions.profitToken().call() == deployed["profit_token"]
    assert staking.functions.owner().call() == admin.address
    assert staking.functions.tiers().call() == [100 * DSG, 1_000 * DSG, 10_000 * DSG]
    assert stable.functions.decimals().call() == 6

    # set-tiers: whole DSG with decimals, from the config's staking_address
    code, out = run(
        ["chain", "set-tiers", "--config", str(config), "--thresholds", "50, 500.5,5000", "--json"]
        + key
    )
    assert code == 0, out
    assert last_json(out)["thresholds_dsg"] == ["50", "500.5", "5000"]
    assert staking.functions.tiers().call() == [50 * DSG, 5005 * DSG // 10, 5000 * DSG]
    for bad, why in (
        ("100,50", "ascending"),
        ("0,5", "above 0"),
        ("1,2,3,4,5,6,7,8,9", "at most 8"),
        ("ten", "not a number"),
        ("1.0000000000000000001", "decimals"),
    ):
        code, out = run(["chain", "set-tiers", "--config", str(config), "--thresholds", bad] + key)
        assert code == 2 and why in out, (bad, out)
    code, out = run(
        ["chain", "set-tiers", "--config", str(config), "--thresholds", "1", "--rpc", node.url]
        + ["--private-key", stranger.key.hex()]
    )
    assert code == 1 and "NotAdmin" in out, out

    # deposit-profit: the admin holds no test stablecoin yet -> a clear error, then mint + go
    code, out = run(["chain", "deposit-profit", "--config", str(config), "--amount", "250.5"] + key)
    assert code == 1 and "less than" in out, out
    contracts.send(w3, admin, stable.functions.mint(admin.address, 10**12))
    code, out = run(
        ["chain", "deposit-profit", "--config", str(config), "--amount", "250.5", "--json"] + key
    )
    assert code == 0, out
    dep = last_json(out)
    assert dep["amount_units"] == "250500000" and dep["approve_tx"]
    assert dep["period_finish"] == staking.functions.periodFinish().call()
    assert stable.functions.balanceOf(staking.address).call() == 250_500_000
    # nobody stakes: the profit waits, it is not lost
    node.rpc("evm_increaseTime", 3600)
    node.rpc("evm_mine")
    assert staking.functions.unallocated().call() > 0
    for bad in ("-1", "0", "1.0000001", "x"):
        code, out = run(["chain", "deposit-profit", "--config", str(config), "--amount", bad] + key)
        assert code == 2 and "--amount" in out, (bad, out)
    contracts.send(w3, staker, stable.functions.approve(staking.address, 10))
    contracts.send(w3, admin, stable.functions.transfer(staker.address, 10))
    code, out = run(
        ["chain", "deposit-profit", "--config", str(config), "--amount", "0.00001"]
        + ["--rpc", node.url, "--private-key", staker.key.hex()]
    )
    assert code == 1 and "NotDistributor" in out, out


def test_deploy_needs_a_profit_token_off_dev_chains(tmp_path: Path):
    with Anvil(extra_args=["--chain-id", "8453"]) as other:
        key = ["--rpc", other.url, "--private-key", DEV_KEYS[0]]
        code, out = run(["chain", "deploy", "--no-write-config", "--json", *key])
        assert code == 2 and "--profit-token ADDR is required on chain 8453" in out, out
        w3 = Web3(Web3.HTTPProvider(other.url))
        assert w3.eth.get_transaction_count(Account.from_key(DEV_KEYS[0]).address) == 0
        code, out = run(
            ["chain", "deploy", "--no-write-config", "--profit-token", "0x" + "11" * 20, *key]
        )
        assert code == 2 and "no contract" in out, out
        stable = contracts.deploy_test_stable(w3, Account.from_key(DEV_KEYS[0]))
        code, out = run(
            ["chain", "deploy", "--no-write-config", "--json", "--profit-token", stable.address]
            + key
        )
        assert code == 0, out
        assert last_json(out)["profit_token"] == stable.address


def test_simulate_deploys_staking_and_records_it(node, tmp_path: Path):
    cfg = configmod.load(None, state_dir=str(tmp_path))
    cfg.chain.rpc_url = node.url
    keys = keyfile.generate()
    sim = Simulation(tmp_path)
    first = sim.start_chain(cfg, keys)
    sim.record(  # as the daemon does with what start_chain returns
        rpc_url=first.rpc_url,
        mining_address=first.mining_address,
        token_address=first.token_address,
    )
    rec = read_settings(tmp_path)
    assert rec["staking_address"] == first.staking_address
    assert rec["profit_token_address"] == first.profit_token_address
    w3 = Web3(Web3.HTTPProvider(node.url))
    staking = contracts.staking_contract(w3, first.staking_address)
    assert staking.functions.stakingToken().call() == first.token_address
    assert staking.functions.tiers().call() == [100 * DSG, 1_000 * DSG, 10_000 * DSG]
    admin = Account.from_key(DEV_KEYS[0])
    assert staking.functions.owner().call() == admin.address
    stable = contracts.erc20_contract(w3, first.profit_token_address)
    assert stable.functions.decimals().call() == 6
    assert stable.functions.balanceOf(admin.address).call() >= 10**6 * 10**6

    # the next start keeps them
    again = Simulation(tmp_path).start_chain(cfg, keys)
    assert (again.staking_address, again.mining_address) == (
        first.staking_address,
        first.mining_address,
    )
    # tools given the state dir see them as [chain] settings
    tool_cfg = configmod.load(None, state_dir=str(tmp_path))
    configmod.apply_recorded(tool_cfg)
    assert tool_cfg.chain.staking_address == first.staking_address
    assert tool_cfg.chain.profit_token_address == first.profit_token_address

    # a state dir from before staking: deployed on its next start
    old = read_settings(tmp_path)
    old.pop("staking_address")
    old.pop("profit_token_address")
    write_settings(tmp_path, old)
    upgraded = Simulation(tmp_path).start_chain(cfg, keys)
    assert upgraded.staking_address and upgraded.staking_address != first.staking_address
    assert upgraded.mining_address == first.mining_address
    assert read_settings(tmp_path)["staking_address"] == upgraded.staking_address


# A USDT-style profit token: approve() refuses to move a non-zero allowance to another non-zero
# value, and transfer/approve return nothing.
USDT_LIKE = """
# pragma version ~=0.4.3
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

@external
@view
def decimals() -> uint8:
    return 6

@external
def mint(to: address, amount: uint256):
    self.balanceOf[to] += amount

@external
def approve(spender: address, amount: uint256):
    assert amount == 0 or self.allowance[msg.sender][spender] == 0, "USDT: reset to 0 first"
    self.allowance[msg.sender][spender] = amount

@external
def transfer(to: address, amount: uint256):
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount

@external
def transferFrom(src: address, to: address, amount: uint256):
    self.allowance[src][msg.sender] -= amount
    self.balanceOf[src] -= amount
    self.balanceOf[to] += amount
"""


def test_deposit_profit_resets_a_short_allowance_for_usdt_style_tokens(node):
    admin = Account.from_key(DEV_KEYS[0])
    w3 = Web3(Web3.HTTPProvider(node.url))
    usdt = deploy_source(w3, admin, USDT_LIKE)
    dsg = contracts.deploy_test_stable(w3, admin)  # the staked token: any ERC-20 will do here
    staking = contracts.deploy_staking(w3, admin, dsg.address, usdt.address)
    contracts.send(w3, admin, usdt.functions.mint(admin.address, 10**12))
    contracts.send(w3, admin, usdt.functions.approve(staking.address, 5))  # non-zero and short
    receipt, approved = contracts.notify_profit(w3, admin, staking, 1_000 * 10**6)
    assert receipt["status"] == 1 and approved is not None
    assert usdt.functions.balanceOf(staking.address).call() == 1_000 * 10**6
    assert usdt.functions.allowance(admin.address, staking.address).call() == 0
    # an allowance that covers the deposit is used as it is (no approve at all)
    contracts.send(w3, admin, usdt.functions.approve(staking.address, 10**10))
    node.rpc("evm_increaseTime", 7 * 86400)
    node.rpc("evm_mine")
    _, approved = contracts.notify_profit(w3, admin, staking, 10**6)
    assert approved is None
