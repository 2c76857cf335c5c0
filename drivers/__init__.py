"""Hardware drivers for the till: scanners, card readers, printers. Never imports posd.

Layout (one job per module): ``base`` (events, Driver), ``registry`` (who drives what, config
entries), ``interfaces`` (finding devices), ``manager`` (DeviceManager), ``lines`` (line-reading
base driver), ``scanner_serial`` / ``scanner_hid`` / ``cardreader`` / ``simulated`` (drivers),
``barcode`` (symbologies), ``usb_ids`` (known hardware), ``diag`` (technician helpers).
"""
