"""Paying with DSG at the till (DESIGN §10): amounts and references, the payment state machine,
the price source, and the service that ties a request to the register's sale."""
