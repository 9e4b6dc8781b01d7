"""The server's side of the page: its doors (Host/Origin, request size, users, credentials), the typed API
endpoints and what a request may bring in, and the endpoints of Lightricks' Spaces."""
