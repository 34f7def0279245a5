"""The HTTP edge: starlette routes for the JSON API, the pages and operations."""
