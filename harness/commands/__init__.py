"""CLI sub-commands. Each module defines NAME, HELP, ``add_arguments(parser)`` and ``run(args) -> int``.

Modules import heavy dependencies (torch, mlflow, optuna, cvxpy) inside ``run`` only, so
``harness --help`` stays instant.
"""
