"""`python -m ueba_api`: the `ueba` command line."""

from ueba_api.cli.app import main

main()
