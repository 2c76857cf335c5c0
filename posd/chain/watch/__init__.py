"""Event watchers: things on chain the till waits for (DSG payments, DESIGN §10)."""
