"""The `ueba` command line (Typer + Rich): `ueba --help`, or `python -m ueba_api --help`.

`ueba_api.cli.app:main` is the entry point. Kept out of `ueba_api/__init__`: importing the client library
loads neither Typer nor Rich.
"""
