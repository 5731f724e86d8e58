"""The web workbench: a Gradio UI and a REST API over one world (see app.py)."""
