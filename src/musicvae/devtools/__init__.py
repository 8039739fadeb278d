"""Developer tools outside the flow of the package (the import check)."""
