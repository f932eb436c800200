"""`python -m migrator` runs the same CLI as the `mesh-migrator` console script."""

from migrator.cli import run

run()
