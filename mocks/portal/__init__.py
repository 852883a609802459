"""National Public Service Portal mock (Cổng Dịch vụ công quốc gia).

``create_app(settings)`` returns the ASGI app; state lives in ``<data_dir>/portal.db``.
Modules: :mod:`~mocks.portal.lifecycle` (status codes and the state machine, pure),
:mod:`~mocks.portal.catalogue` (procedure codes), :mod:`~mocks.portal.accounts`
(sign-in rules, lockout), :mod:`~mocks.portal.identity` (population client),
:mod:`~mocks.portal.intermediary` (mock payment intermediary), the store, and one
``routes_*`` module per group of endpoints — :mod:`~mocks.portal.routes_dvcqg` (with the
``dvcqg_*`` modules) is the integration-adapter face, the same portal in the LGSP shape.
"""

from mocks.portal.app import create_app, portal_endpoints

__all__ = ["create_app", "portal_endpoints"]
