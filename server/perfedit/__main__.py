"""``python -m perfedit`` and the ``perfedit`` console script.

``perfedit lsp`` starts the language server before the command line's modules are imported (about
0.1 s: the settings, the model store, every command's parser), so that it answers ``initialize``
at once (:mod:`perfedit.lsp.start`); every other command goes to :func:`perfedit.cli.main.main`.
"""

import sys


def main() -> int:
    """Entry point of the ``perfedit`` command; returns the exit code."""
    if sys.argv[1:] == ["lsp"]:
        from perfedit.lsp.start import serve

        return serve()
    from perfedit.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
