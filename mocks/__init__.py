"""Reference mock services of the three national systems (portal, population, axis).

Each service is a standalone ASGI app (``mocks.<service>.create_app(settings)``) a team
could deploy alone: mocks import only the dientap kernel, never scenarios, drills,
metrics or reports. Run one with ``python -m mocks serve <service> --port N``.
"""

SERVICES = ("portal", "population", "axis")
DEFAULT_PORTS = {"portal": 8701, "population": 8702, "axis": 8703}

__all__ = ["SERVICES", "DEFAULT_PORTS"]
