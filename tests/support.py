"""Helpers shared by tests (import as ``from tests.support import ...``)."""

from __future__ import annotations

import httpx

from dientap.orchestration import MockCluster


def admin_client(cluster: MockCluster, service: str) -> httpx.Client:
    """An httpx client for ``service`` that carries the cluster's admin token."""
    return httpx.Client(
        base_url=cluster.urls[service],
        headers={"Authorization": f"Bearer {cluster.config.admin_token}"},
        timeout=10.0,
    )
