"""``python -m scorelens`` runs the command line."""

from scorelens.cli.main import run

run()
