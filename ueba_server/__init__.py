"""The UEBA reference server: the contract's API over FastAPI, with a SQLite store, a connection history
generator and importer, and real autoencoder trainings in worker processes.

Start it with `python -m ueba_server` or, from Python, `ueba_server.launch.start_server`.
"""
