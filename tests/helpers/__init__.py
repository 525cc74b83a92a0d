"""What several test modules share: the CLI as a process (:mod:`.cli`), the language server's
test client (:mod:`.lsp`), fast settings (:mod:`.settings`), small projects and programs
(:mod:`.projects`, :mod:`.programs`, :mod:`.training_programs`) and test doubles of the model
(:mod:`.models`). Test modules import these, never one another (tests/test_layers.py checks)."""
