"""Generated Pub/Sub API stubs (``make proto`` regenerates them from pubsub_api.proto)."""
