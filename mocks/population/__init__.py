"""Mock of the National Population Database (CSDL quốc gia về dân cư).

Agency systems take a client-credentials token, then look citizens up by personal ID
number (fields filtered by role) or verify ID + name + date of birth (match / no match).
Every access is audited. See ``docs`` in the package modules:

* :mod:`~mocks.population.roles` — who sees which fields;
* :mod:`~mocks.population.audit` — the batched audit log and its durability trade-off;
* :mod:`~mocks.population.throttle` — per-client token buckets against scraping;
* :mod:`~mocks.population.store` — deterministic seeding from ``kernel.synthetic``.
"""

from mocks.population.app import create_app

__all__ = ["create_app"]
