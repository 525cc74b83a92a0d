"""The command line: ``perfedit suggest``, ``model``, ``doctor``, ``lsp`` and the parser
(:mod:`~perfedit.cli.main`), ``perfedit profile`` (:mod:`~perfedit.cli.profile_command`),
``perfedit scan`` (:mod:`~perfedit.cli.scan_command`), ``perfedit train``, ``data`` and
``evaluate`` (:mod:`~perfedit.cli.train_command`), and the settings reference generator
(:mod:`~perfedit.cli.config_docs`, ``make settings``). The top layer: nothing imports it but
``perfedit.__main__``.
"""
