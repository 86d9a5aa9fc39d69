"""The use cases: what a command line, an HTTP API or a script asks of the ledger.

Each takes a ``Backend`` (the port in ``ports``, picked once by the composition root)
and plain values, and returns a report; none parses arguments or prints.
"""
