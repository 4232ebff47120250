"""The Streamlit app's helpers: which server a session talks to, calls and their errors, navigation,
shared widgets. May import streamlit and ueba_api (and start ueba_server); never imports pages."""
