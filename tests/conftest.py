"""Shared test settings.

Hypothesis profiles: "default" for a developer's run, "ci" (chosen when CI=true) with the same
number of examples but derandomised, so a CI run is repeatable. No deadline: the first call of a
layer pays NumPy's warm-up, and timing is the benchmarks' business, not the tests'.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")
