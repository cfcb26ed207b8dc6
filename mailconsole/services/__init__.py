"""Service functions: the one API that the CLI, the console and the alerts all call."""
