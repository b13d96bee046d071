"""Where seed groups run: this process, local worker processes, or a Ray cluster."""
