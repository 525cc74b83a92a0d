"""Tests and profiling: the tests that exercise a target, found by running them
(:mod:`~perfedit.testsource.discovery`), and the profiled test run that finds them and ranks the
project's hot spots (:mod:`~perfedit.testsource.profiling`). Below the candidates and
validation; runs the tests through :mod:`perfedit.sandbox`.
"""
