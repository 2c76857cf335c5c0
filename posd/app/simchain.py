"""`--simulate`'s chain set-up (deploy, join, fund) in a child process: web3 never enters the till.

The contracts are deployed and the till joined with web3, about 12 MB of resident memory the
daemon would carry for ever after, idle. Here :meth:`Simulation.start_chain` runs in a short-lived
child (``python -m posd.app.simchain``) against the anvil this process started and owns (and
stops at exit); only the addresses come back. What the child recorded in the state dir is read
again after. Our own process on both ends of the pipe: pickle is fine.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path

from posd.app.simulate import SimChain, Simulation, read_settings
from posd.config.keyfile import TillKeys
from posd.config.settings import Config
from posd.errors import Internal

TIMEOUT_S = 300


class ChainSetupFailed(Internal, RuntimeError):
    code = "simulate_chain_failed"
    exit_code = 2


def start_chain_isolated(sim: Simulation, config: Config, keys: TillKeys) -> SimChain:
    """Like ``sim.start_chain(config, keys)``; the web3 part runs in a child process."""
    rpc_url = sim.rpc_url(config)  # an anvil this process owns, stopped at exit
    child_config = copy.deepcopy(config)
    child_config.chain.rpc_url = rpc_url
    run = subprocess.run(
        [sys.executable, "-m", "posd.app.simchain"],
        input=pickle.dumps((sim.state_dir, child_config, keys)),
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    if run.returncode != 0:
        tail = run.stderr.decode("utf-8", "replace")[-2000:]
        raise ChainSetupFailed(f"setting up the simulated chain failed:\n{tail}")
    sim.settings = read_settings(sim.state_dir)
    return pickle.loads(run.stdout)


def _child() -> None:
    state_dir, config, keys = pickle.loads(sys.stdin.buffer.read())
    chain = Simulation(Path(state_dir)).start_chain(config, keys)
    sys.stdout.buffer.write(pickle.dumps(chain))


if __name__ == "__main__":
    _child()
