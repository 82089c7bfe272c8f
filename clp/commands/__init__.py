"""One module per ``clp`` command: the command parses options, collects through a context, then renders."""
