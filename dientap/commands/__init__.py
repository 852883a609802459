"""One module per ``dientap`` subcommand; each exposes ``register(subparsers)``.

``register`` adds the subparser and sets ``func`` to a callable ``(args) -> ExitCode``.
"""
