"""HTTP gateway: intake routes, ticket API, auth, health and metrics endpoints."""
