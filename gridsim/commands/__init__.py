"""Subcommands of the ``gridsim`` CLI, one module per group (see :mod:`gridsim.cli`)."""
