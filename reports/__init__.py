"""Reports: the run-directory records, journal → summary → HTML/Markdown report, the budget gate.

Submodules (import the one you need; ``reports`` itself imports nothing heavy):

* :mod:`reports.journal`  — record models of ``journal.json`` (single source of truth), with
  :mod:`reports.drill_result` and :mod:`reports.security_scorecard` for its drill and security sections
* :mod:`reports.summary`  — record models of ``summary.json``
* :mod:`reports.run_files` — atomic writes and validated loads of a run directory's files, ``runs/latest``
* :mod:`reports.budgets`  — ``budgets.yaml`` model and loader
* :mod:`reports.gate`     — ``evaluate(summary, budgets, runs) -> GateResult``, table, JUnit XML
* :mod:`reports.compare`  — ``compare_runs(baseline, current) -> RunComparison`` with a noise guard
  (:mod:`reports.intervals`, :mod:`reports.compare_sources`, :mod:`reports.compared_run`,
  :mod:`reports.compare_render`)
* :mod:`reports.readiness` — the readiness matrix (34 provinces × checks, green/amber/red)
* :mod:`reports.html`     — ``render_report(run_dir)``, ``render_markdown(run_dir)``

Reports import only the dientap kernel; they never talk to a live target.
"""

__all__: list[str] = []
