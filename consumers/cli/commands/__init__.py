"""One module per command group; each ``register``s its sub-commands on the parser."""
