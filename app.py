"""UEBA Notebook: the Streamlit entry point. Navigation and the sidebar server badge, nothing else."""

from pathlib import Path

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ui import feedback, navigation, sidebar, widgets

# A local file: a `:material/...:` page icon makes the browser fetch an SVG from a font CDN on every load,
# which air-gapped PrivX sites see fail (the material icons elsewhere come from Streamlit's bundled font).
PAGE_ICON = Path(__file__).resolve().parent / "assets" / "page-icon.png"


def run() -> None:
    # Each url_path is its file's name, so a deep link that is a fresh process's very first run still
    # lands on its page (see the note on `pages/` in ui/bootstrap.py).
    st.set_page_config(page_title="UEBA Notebook", page_icon=str(PAGE_ICON), layout="wide")
    page = st.navigation(
        {
            "Datasets": [
                st.Page("pages/datasets.py", title="Datasets", icon=":material/table:", url_path="datasets",
                        default=True),
                st.Page("pages/dataset_editor.py", title="Dataset editor", icon=":material/edit_calendar:",
                        url_path="dataset_editor"),
            ],
            "Models": [
                st.Page("pages/training.py", title="Training review", icon=":material/monitoring:",
                        url_path="training"),
                st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:",
                        url_path="compare"),
            ],
            "Settings": [
                st.Page("pages/connection.py", title="Connection", icon=":material/lan:",
                        url_path="connection"),
            ],
        }
    )
    if navigation.entered_page(page.url_path):
        # Leaving a page while its dialog is open fires no on_dismiss: without this, the dialog would
        # reopen on return, for whatever is selected then.
        widgets.close_confirmation()
    sidebar.server_badge()
    feedback.show_notices()
    page.run()


if __name__ == "__main__":
    run()
