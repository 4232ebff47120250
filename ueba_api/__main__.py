"""`python -m ueba_api`: the `ueba` command line."""

from ueba_api.cli import main

main()
