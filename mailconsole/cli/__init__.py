"""The command-line interface: click commands over the same service functions as the console."""
