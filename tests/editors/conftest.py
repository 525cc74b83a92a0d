"""The workspace folder is what the editors open, with its own tests: not part of this suite."""

collect_ignore = ["workspace"]
