"""``budgets.yaml``: the latency, error and throughput budgets a run must keep.

Example (the shipped default is ``reports/budgets.yaml``)::

    version: 1
    budgets:
      - name: portal endpoints          # optional label for the table and JUnit
        service: portal                 # every endpoint of the service ...
        endpoint: POST /dossiers        # ... or one endpoint (Locust ``name=``)
        province: "04"                  # optional: "NN" or "*" (every province)
        measure: sent                   # sent (default) | intended (from the intended start)
        p50_ms: 200
        p95_ms: 800
        p99_ms: 2000
        error_rate: 0.01                # failures / requests, at most
        max_throttled_rate: 0.05        # throttled by the target / requests, at most (below)
        min_throughput: 0.95            # achieved / intended requests, at least
      - name: whole run                 # no service/endpoint/province: the whole run
        error_rate: 0.02
        max_throttled_rate: 0.01
        min_throughput: 0.95
    regression:                         # only applied with a baseline run
      - service: portal                 # optional selector, like above
        p95_growth: 0.10                # p95 may not grow more than 10 %
        p99_growth: 0.25
        error_rate_growth: 0.005        # absolute, in error-rate points
        min_delta_ms: 5                 # ignore growth below this many ms (noise floor)
        min_samples: 30                 # fewer samples on either side: SKIP (not comparable)

``max_throttled_rate`` limits the requests the target *throttled* — answered 423 or 429
with ``Retry-After``, the target protecting itself (:mod:`reports.summary`) — apart from
``error_rate``, which never counts them: a run can keep its error budget and still break its
throttling budget, or the reverse. It applies wherever ``error_rate`` does (whole run,
service, endpoint, province).

A regression row fails only when the two runs' 95 % confidence intervals do not overlap
*and* the change clears both floors (growth and min_delta_ms) — the comparison of
:mod:`reports.compare`, the same as ``dientap compare``.
    generator:
      require_trustworthy: true         # an untrustworthy load generator fails the gate
      fail_on_abort: true               # an aborted run fails the gate
    readiness: {...}                    # matrix thresholds, see reports.readiness

Loading goes through :func:`kernel.configfile.load_model`: every problem is reported
at once as ``file:line: field: message``, and unknown keys, keys given twice, infinite or
non-numeric limits are errors. A file without any budget or regression line or readiness
thresholds (an empty one, say) is refused: it would pass every run. The gate asks more
(:func:`load_gate_budgets`): at least one line it applies to the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kernel.configfile import StrictModel, load_model
from kernel.errors import ConfigError, ConfigProblem
from kernel.roster import load_roster
from reports.noise_guard import MIN_SAMPLES
from reports.readiness import ReadinessThresholds

__all__ = [
    "DEFAULT_BUDGETS_PATH",
    "LatencyMeasure",
    "BudgetLine",
    "RegressionLimit",
    "GeneratorRules",
    "Budgets",
    "load_budgets",
    "load_gate_budgets",
]

DEFAULT_BUDGETS_PATH = Path(__file__).with_name("budgets.yaml")

LatencyMeasure = Literal["sent", "intended"]

_LATENCY_KEYS = ("p50_ms", "p95_ms", "p99_ms")


def _check_province(value: str | None) -> str | None:
    if value is None or value == "*":
        return value
    known = [p.code for p in load_roster().provinces]
    if value not in known:
        raise ValueError(f"unknown province {value!r}; expected a 2-digit code ({known[0]} … {known[-1]}) or '*'")
    return value


def _check_text(value: str | None) -> str | None:
    # A YAML "\ud800" escape makes a lone surrogate, which UTF-8 cannot hold: gate.json and the
    # terminal table would fail to be written after the gate had judged the run.
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{value!r} holds a lone surrogate at {exc.start}, which is no character") from None
    return value


class BudgetLine(StrictModel):
    """One budget: a selector (service / endpoint / province) and the limits it must keep."""

    name: str | None = None
    service: str | None = None
    endpoint: str | None = None
    province: str | None = None
    measure: LatencyMeasure = "sent"
    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    max_throttled_rate: float | None = Field(default=None, ge=0, le=1)  # throttled by the target / requests
    min_throughput: float | None = Field(default=None, gt=0, le=1)

    @field_validator("province")
    @classmethod
    def _known_province(cls, value: str | None) -> str | None:
        return _check_province(value)

    @field_validator("name", "service", "endpoint")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _check_text(value)

    @model_validator(mode="after")
    def _limits_fit_selector(self) -> BudgetLine:
        latency = [k for k in _LATENCY_KEYS if getattr(self, k) is not None]
        if not latency and self.error_rate is None and self.max_throttled_rate is None and self.min_throughput is None:
            raise ValueError("a budget needs at least one limit "
                             "(p50_ms, p95_ms, p99_ms, error_rate, max_throttled_rate, min_throughput)")
        named = self.service is not None or self.endpoint is not None
        if not named and self.province is None and latency:
            # The summary has no exact whole-run percentile (merging endpoints would not be exact).
            raise ValueError(
                "a whole-run budget supports error_rate, max_throttled_rate and min_throughput only; "
                "name a service or endpoint for latency limits"
            )
        if not named and self.province is not None:
            extra = [k for k in ("p50_ms", "p99_ms", "min_throughput") if getattr(self, k) is not None]
            if extra or self.measure == "intended":
                raise ValueError(
                    "a province-wide budget supports p95_ms (sent), error_rate and max_throttled_rate only; "
                    "name a service or endpoint for " + (", ".join(extra) or "measure: intended")
                )
        if self.province is not None and self.min_throughput is not None:
            raise ValueError("min_throughput is not measured per province; remove province or min_throughput")
        return self

    def label(self, index: int) -> str:
        """The name shown in tables and JUnit: ``name`` or ``budgets[i]``."""
        return self.name or f"budgets[{index}]"


class RegressionLimit(StrictModel):
    """How much worse than a baseline run an endpoint may get before the gate fails.

    The growths and ``min_delta_ms`` are the floors of the noise guard (a regression must
    clear both, and the confidence intervals must not overlap); ``min_samples`` is the
    least either run must have measured for a row to be judged rather than skipped.
    """

    name: str | None = None
    service: str | None = None
    endpoint: str | None = None
    measure: LatencyMeasure = "sent"
    p50_growth: float | None = Field(default=None, ge=0)
    p95_growth: float | None = Field(default=None, ge=0)
    p99_growth: float | None = Field(default=None, ge=0)
    error_rate_growth: float | None = Field(default=None, ge=0, le=1)
    min_delta_ms: float = Field(default=5.0, ge=0)
    min_samples: int = Field(default=MIN_SAMPLES, ge=1)

    @field_validator("name", "service", "endpoint")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _check_text(value)

    @model_validator(mode="after")
    def _has_limit(self) -> RegressionLimit:
        if all(getattr(self, k) is None for k in ("p50_growth", "p95_growth", "p99_growth", "error_rate_growth")):
            raise ValueError("a regression limit needs p50_growth, p95_growth, p99_growth or error_rate_growth")
        return self

    def label(self, index: int) -> str:
        """The name shown in tables and JUnit: ``name`` or ``regression[i]``."""
        return self.name or f"regression[{index}]"


class GeneratorRules(StrictModel):
    """Run-level conditions the gate checks besides the budgets."""

    require_trustworthy: bool = True
    fail_on_abort: bool = True


class Budgets(StrictModel):
    """The whole ``budgets.yaml`` file."""

    version: Literal[1] = 1
    budgets: list[BudgetLine] = Field(default_factory=list)
    regression: list[RegressionLimit] = Field(default_factory=list)
    generator: GeneratorRules = Field(default_factory=GeneratorRules)
    readiness: ReadinessThresholds = Field(default_factory=ReadinessThresholds)

    @model_validator(mode="after")
    def _says_something(self) -> Budgets:
        # With nothing to judge, the gate would check the generator rules alone and pass: an
        # empty file, a comments-only one or a truncated copy would wave every run through.
        # Readiness thresholds alone are meaningful: `dientap report --budgets` reads them.
        if not self.budgets and not self.regression and "readiness" not in self.model_fields_set:
            raise ValueError("no budget lines: a budgets file needs version: 1 and at least one line under "
                             "budgets: or regression: (or readiness: thresholds for the report)")
        return self


def load_budgets(path: str | Path | None = None) -> Budgets:
    """Load and validate a budgets file (default: the shipped ``reports/budgets.yaml``).

    Raises :class:`kernel.errors.ConfigError` listing every problem as
    ``file:line: field: message``.
    """
    path = Path(path) if path is not None else DEFAULT_BUDGETS_PATH
    return load_model(Budgets, path)


def load_gate_budgets(path: str | Path | None = None, *, with_baseline: bool = False) -> Budgets:
    """A budgets file the gate can judge a run by: :func:`load_budgets`, and at least one line
    the gate applies. Readiness thresholds alone (which only the report reads), or regression
    limits without a baseline run (each row a SKIP), would judge nothing and pass every run; a
    baseline with no regression limit to compare it by would be ignored. Each is refused,
    naming the file and what to add, before any run or verdict."""
    budgets = load_budgets(path)
    source = str(path) if path is not None else str(DEFAULT_BUDGETS_PATH)
    if with_baseline and not budgets.regression:
        raise ConfigError([ConfigProblem(source, None, "regression", (
            "no regression limit to compare the baseline run by; add one, e.g. "
            "regression: [{p95_growth: 0.10, min_delta_ms: 5}], or leave the baseline out"))])
    if not budgets.budgets and not (with_baseline and budgets.regression):
        what = ("regression limits only, and no baseline run is given" if budgets.regression
                else "readiness thresholds only (the report's colours)")
        raise ConfigError([ConfigProblem(source, None, "budgets", (
            f"the gate would judge nothing: the file holds {what}; add a line under budgets:, "
            "e.g. - {error_rate: 0.01}" + (", or give a baseline run" if budgets.regression else "")))])
    return budgets
