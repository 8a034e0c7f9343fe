"""Multi-task solvers for AMTL (robust MTL, MALSAR Least_RMTL) and CMTL (clustered MTL).

``problem``: data layout and numpy reference objectives; ``cvx``: cvxpy reference formulations;
``apg``: fast accelerated proximal-gradient solvers in torch; ``method``: the shared fit/predict of
the ``amtl`` and ``cmtl`` plugins.
"""
