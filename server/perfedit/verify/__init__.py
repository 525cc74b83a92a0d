"""Validation: running a candidate against the tests in the sandbox and timing it against the
baseline (:mod:`~perfedit.verify.validate`, :mod:`~perfedit.verify.timing`), differential testing
on generated inputs (:mod:`~perfedit.verify.differential`, :mod:`~perfedit.verify.literals`),
choosing the winner (:mod:`~perfedit.verify.selection`) and PIE's metrics over many jobs
(:mod:`~perfedit.verify.metrics`). Knows nothing of where candidates come from.
"""
