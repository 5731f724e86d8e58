"""`python -m cxagent` runs the command line."""

from cxagent.cli import app

app()
