"""The adapters of the backend port (``consumers.services.ports.Backend``)."""
