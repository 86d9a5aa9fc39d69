"""The personal-data ledger: every act done with a person's data, as an immutable event."""
