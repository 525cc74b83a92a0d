"""The job: the main flow from a target to a validated, minimal, explained suggestion
(:mod:`~perfedit.job.pipeline`), finding the target and its tests (:mod:`~perfedit.job.locate`),
comparing two given versions (:mod:`~perfedit.job.compare`) and scanning a code base's hot spots
(:mod:`~perfedit.job.scan`). It may import every step below it; only the front ends (``cli``,
``lsp``) and ``training`` import it.
"""
