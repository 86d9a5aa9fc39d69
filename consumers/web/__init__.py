"""The web console and HTTP API (`ledger web`): pages for people, ``/v1`` for machines.

- ``roles``: the roles and the route groups each may use (the matrix of the README);
- ``tokens``, ``token_store_postgres``: tokens, of which only a hash is stored;
- ``worker``: the one thread all ledger work runs on;
- ``app``: the FastAPI application, assembled from ``api_*`` and ``pages_*`` routers;
- ``server``: uvicorn, with TLS when given a certificate.
"""
