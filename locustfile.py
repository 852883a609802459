"""The nationwide dry run as a Locust file.

``dientap run`` drives it headless (one process, or master + workers); ``locust -f
locustfile.py`` works too, with the web UI, against mocks started by ``dientap mocks``::

    dientap mocks &                                   # portal 8701, population 8702, axis 8703
    locust -f locustfile.py --dientap-profile smoke   # then open http://localhost:8089

Only wiring lives here (in ``dientap/orchestration/locust_entry.py``); the personas, load model and
recording are in ``scenarios/``.
"""

from dientap.orchestration.locust_entry import CommuneOfficer, ProvincialAgency  # noqa: F401 - Locust finds users here
