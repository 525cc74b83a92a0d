"""Shared formats below both the product and ``training``: the tests of a target as data and the
PIE case-folder layout (:mod:`~perfedit.formats.suites`) and the slow→fast pair file
(:mod:`~perfedit.formats.pairs`).
"""
