"""Imported first by app.py and by every page: the workaround for Streamlit's legacy `pages/` folder.

Streamlit takes a `pages/` folder beside app.py for a legacy multipage app until st.navigation first
runs in the process. Were the process's very first run a deep link (/datasets, say), Streamlit would
run that page file alone, without app.py, and keep doing so: a sidebar listing the helper modules
(calls.py, widgets.py, ...) as pages. This module is the one place to say that st.navigation
is in use and to run again through app.py; the page stays the same, as app.py gives each page its
file's name as url_path.

Streamlit runs that legacy first run before any of our code, and lists app.py and the files of `pages/`
in the sidebar while it runs: `.streamlit/config.toml` sets `client.showSidebarNavigation = false`, which
hides that list, and this module turns the option on again (for the whole process) before the rerun, so
st.navigation's own list shows from then on.

It is a module of its own, imported by name as the first of the `pages` imports of app.py and of each
page (`import ui.bootstrap`, which isort keeps ahead of `from ui import ...`), rather than hidden
in whichever helper module the pages happen to share: a page that stopped using that helper would lose
the workaround without a sign. Like any module, it runs on its first import in the process; the rerun
fails that import, so the next run imports it again, finds the flag cleared, and goes on.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.set_option("client.showSidebarNavigation", True)
    st.rerun()
