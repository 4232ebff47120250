"""`python -m ueba_api.server`: see cli.py."""

from ueba_api.server.cli import main

if __name__ == "__main__":
    main()
