"""Everything about DAG files: the DAGs folder, uploads, and parsing them in a child process (never in
the web server), through the parse server."""
