"""`python -m ueba_server`: see cli.py."""

from ueba_server.cli import main

if __name__ == "__main__":
    main()
