"""Long-running processes and the `ledger` command line."""
