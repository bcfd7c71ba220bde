"""brandscan's command line: thin Typer commands over `brandscan.engine`."""
