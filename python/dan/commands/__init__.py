"""The ``dan`` command line: ``cli`` parses it and hands each subcommand to its module here
(``ablate``, ``benchmark``, ``plot``, ``beta_plot``, ``predict``); ``dan train`` is dan.trainer."""
