"""The HTTP edge: the Falcon app, its resources, schemas, middleware and error handling."""
