"""The Salesforce sandbox: REST API, OAuth and the Pub/Sub API (gRPC) over one org."""
