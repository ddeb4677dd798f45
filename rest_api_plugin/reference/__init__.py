"""What the registry drives for people: the endpoint reference (docs/endpoints.md), the OpenAPI document
and the REST API page."""
