"""The error both doors turn into a usage message (exit status 2, or pytest's usage error).
A leaf module: the modules that find a bad value raise it without importing the doors."""


class UsageError(ValueError):
    """A value given on the command line (or to the pytest plugin) that is not what was
    expected; the message names the value and what was expected."""


class StoreError(RuntimeError):
    """A results store that cannot be opened, read or written (missing, corrupt, of a newer
    schema, a server that is down); the message names the store. A run's own records are in its
    run directory whatever happens to the store."""
