"""`python -m wizard.cli`: the setup-wizard command."""

from . import main

main()
