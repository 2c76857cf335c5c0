"""posd: the DSG till daemon."""
