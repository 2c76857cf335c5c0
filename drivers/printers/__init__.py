"""Receipt printers: ESC/POS over network, serial, USB or a device file, and the simulated one.

``common`` (the error, ids, defaults), ``link`` (python-escpos connections with timeouts),
``status`` (DLE EOT, tri-state), ``escpos`` (the driver: one job at a time), ``simulated``.
"""
