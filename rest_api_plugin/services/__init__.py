"""In-process handlers, one module per family; each takes validated arguments and returns a Result."""
