"""Barcode scanners: symbology parsing (AIM ids, GTIN check digits) and the scanner drivers."""
