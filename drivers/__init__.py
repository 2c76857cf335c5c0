"""Hardware drivers for the till: scanners, card readers, printers. Never imports posd."""
