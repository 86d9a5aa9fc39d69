"""Read models rebuilt from the ledger: subject view, audit trail, registers."""
