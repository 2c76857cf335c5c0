"""Link health: the chain link's state, persisted in ``meta`` so every process reads the same.

The flusher (in the daemon or in `posd flush`) writes it; the daemon's status, `posd queue` and
the pages read it. States: ``online``, ``offline``, ``error: …``, ``cap_exceeded``,
``unconfigured`` (``unknown`` before any flusher ran).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from posd.db import meta
from posd.db.store import Store

log = logging.getLogger("posd.chain.flusher")


def set_link(store: Store, state: str, detail: str = "", **extra: Any) -> None:
    """Record the link state where every process (daemon, `posd queue`) can read it."""
    m = meta.Meta(store)
    old = m.get(meta.FLUSH_LINK)
    now = time.time()
    since = old.get("since") if old.get("state") == state else now
    m.set(meta.FLUSH_LINK, {"state": state, "since": since, "detail": detail, "at": now, **extra})
    if state.startswith("error") or state in ("offline", "cap_exceeded"):
        m.set(meta.FLUSH_LAST_ERROR, f"{state}: {detail}" if detail else state)
    if old.get("state") != state:
        log.log(
            logging.INFO if state == "online" else logging.WARNING,
            "chain link %s%s",
            state,
            f" ({detail})" if detail else "",
        )


def link_state(store: Store) -> str | None:
    """Just the state (None before any was recorded)."""
    return meta.Meta(store).get(meta.FLUSH_LINK).get("state")


def link_status(store: Store) -> dict[str, Any]:
    """{"state": "online"|"offline"|"error: …"|"cap_exceeded"|"unconfigured", …} for status pages."""
    found = meta.Meta(store).many(meta.FLUSH_LINK, meta.FLUSH_BALANCE, meta.FLUSH_ALERT)
    link = found[meta.FLUSH_LINK.name] or {"state": "unknown"}
    if found[meta.FLUSH_BALANCE.name]:
        link["balance"] = found[meta.FLUSH_BALANCE.name]
    if found[meta.FLUSH_ALERT.name]:
        link["alert"] = found[meta.FLUSH_ALERT.name]
    return link
