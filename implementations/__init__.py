"""Built-in implementations, one module per technique; each registers itself with @implements."""
