"""The reference UEBA server: the contract's API over FastAPI, a SQLite store, a connection history
generator and importer, and real autoencoder trainings in worker processes (`python -m ueba_server`).
It may import ueba_api's contract models and limits; never the app (ui, pages) or streamlit."""
