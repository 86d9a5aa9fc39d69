"""Adapters between the domain's events and stored bytes (transcoding, encryption)."""
