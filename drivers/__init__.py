"""Hardware drivers for the till: scanners, card readers, printers. Never imports posd.

Layout (imports point down this list; ``registry`` and ``base`` are the bottom):
``base`` (events, Driver), ``registry`` (which driver runs a device), ``entries`` (the
``[[device]]`` config parser), ``interfaces`` (finding devices), ``manager`` (DeviceManager:
every device, printers too), ``transports/`` (line framing, serial ports, evdev keyboard wedges,
in-process simulation), ``scanners/`` (symbologies, scanner drivers), ``cards/`` (card parsing,
reader drivers), ``printers/`` (ESC/POS, simulated), ``usb_ids`` (known hardware), ``diag``
(technician helpers).
"""
