"""Delivery: reverting hunks that do not help (:mod:`~perfedit.deliver.minimise`), the unified diff
(:mod:`~perfedit.deliver.diffs`), the explanation (:mod:`~perfedit.deliver.explain`), timings as
pyperf files (:mod:`~perfedit.deliver.pyperf_files`) and writing the result into the user's file
(:mod:`~perfedit.deliver.apply`).
"""
