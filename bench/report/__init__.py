"""Report plug-ins: what a task adds to its records, leaderboard and MLflow runs beyond the
ranking table (confusion matrices, error CDFs, efficiency, per-condition tables, pivots).

A TaskSpec lists :class:`~perloc.bench.report.base.Report` objects; the runner, the
leaderboard and the MLflow mirror call them and know no task.
"""
