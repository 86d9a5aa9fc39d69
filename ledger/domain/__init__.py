"""The domain: policy, data subjects, their events and rules. No infrastructure here."""
