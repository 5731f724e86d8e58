"""The workbench's tabs, one module each (layout + handlers); cxagent.web.ui.TABS orders them.

A tab module exposes `build(page: Page) -> None`, which opens its own gr.Tab inside the page's
gr.Tabs, lays it out and wires its events. Handlers that need the workbench are methods of a
small dataclass holding it rather than functools.partial objects: Gradio names the page's API
endpoints after the function and reads a gr.SelectData parameter from its type hints, which a
bound method keeps and a partial loses."""
