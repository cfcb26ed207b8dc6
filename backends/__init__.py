"""Provider backends shipped with mailconsole, each registered under the `mailconsole.backends` entry-point group."""
