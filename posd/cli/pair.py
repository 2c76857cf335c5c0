"""`posd pair`: a single-use URL that pairs a browser on the till with the local API (DESIGN §7).

Works beside a running daemon: the code goes into the till database (its hash only) and the
daemon swaps it for a session cookie when the URL is opened. The URL names the API port from
the config, else the one a `--simulate` daemon recorded in the state dir.
"""

from __future__ import annotations

from typing import Any

import click

from posd.cli.common import emit, fail, till_db

SCOPES = ("cashier", "display", "tech")


@click.command("pair")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="cashier",
    show_default=True,
    help="display: read-only; cashier: sells; tech: also the technician's actions.",
)
@click.option("--revoke", is_flag=True, help="Unpair every paired page instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def pair(obj: Any, scope: str, revoke: bool, as_json: bool) -> None:
    """Print a URL (valid 5 minutes, once) that pairs a browser on this till."""
    from posd.api.app import pair_url
    from posd.db.sessions import CODE_TTL_S, Sessions

    cfg = obj.config
    with till_db(cfg) as store:
        sessions = Sessions(store)
        if revoke:
            count = sessions.revoke_all()
            emit({"revoked": count}, as_json, f"unpaired {count} page(s)")
            return
        port = cfg.api.port
        if not port:
            fail("the API port is not known: set [api] port in the config", 2)
        new = sessions.new_code(scope)
    url = pair_url(port, new.code)
    data = {"url": url, "scope": scope, "expires_at": int(new.expires_at)}
    text = (
        f"pair: {url}\nOpen it in the till's browser within {CODE_TTL_S // 60} minutes "
        f"(it works once) to pair a {scope} page."
    )
    emit(data, as_json, text)
