"""Card readers: magstripe / NFC UID parsing (PAN masked at once) and the reader drivers."""
