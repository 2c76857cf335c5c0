"""The shopper-facing claim gateway (DESIGN §9): claim relay, receipt status, the claim page."""
