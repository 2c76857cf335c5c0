"""Guess a device's kind from its USB ids or name, so auto-detection never grabs a keyboard.

Only a positive match gives a kind; everything else stays unclaimed (a technician can still
configure it explicitly). Extend the tables, not the code.
"""

from __future__ import annotations

# USB vendor id -> kind, for vendors that only make scanning / card hardware.
VENDOR_KINDS: dict[int, str] = {
    0x0C2E: "scanner",  # Honeywell / Metrologic
    0x0536: "scanner",  # Hand Held Products (Honeywell)
    0x05E0: "scanner",  # Symbol / Zebra
    0x05F9: "scanner",  # Datalogic (PSC)
    0x1EAB: "scanner",  # Newland
    0x065A: "scanner",  # Opticon
    0x0801: "card_reader",  # MagTek
    0x0ACD: "card_reader",  # ID TECH
}
# (vendor, product) -> kind, for generic vendor ids shared with other products.
PRODUCT_KINDS: dict[tuple[int, int], str] = {
    (0xFFFF, 0x0035): "card_reader",  # "Sycreader RFID Technology" 125 kHz UID readers
}
# Lower-case name fragments -> kind (card words first: "card scanner" is a card reader).
# No "zebra": Zebra also makes label printers, which must not be taken for scanners.
NAME_KINDS: tuple[tuple[str, str], ...] = (
    ("magtek", "card_reader"),
    ("mag-tek", "card_reader"),
    ("magnetic", "card_reader"),
    ("swipe", "card_reader"),
    ("card reader", "card_reader"),
    ("msr", "card_reader"),
    ("rfid", "card_reader"),
    ("nfc", "card_reader"),
    ("id tech", "card_reader"),
    ("barcode", "scanner"),
    ("bar code", "scanner"),
    ("scanner", "scanner"),
    ("honeywell", "scanner"),
    ("metrologic", "scanner"),
    ("datalogic", "scanner"),
    ("newland", "scanner"),
    ("opticon", "scanner"),
)


def classify(vid: int | None = None, pid: int | None = None, name: str = "") -> str:
    """``scanner`` / ``card_reader`` when ids or name say so, else ``""`` (leave it alone)."""
    if vid is not None:
        kind = PRODUCT_KINDS.get((vid, pid or 0)) or VENDOR_KINDS.get(vid)
        if kind:
            return kind
    lowered = name.lower()
    for fragment, kind in NAME_KINDS:
        if fragment in lowered:
            return kind
    return ""
