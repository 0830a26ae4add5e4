"""The firmware sources and Jinja2 templates (C99 core, serial protocol, board layers), shipped
inside the installed package as `bs4nn.firmware_template` and found with importlib.resources."""
