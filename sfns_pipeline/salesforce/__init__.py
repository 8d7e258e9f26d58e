"""Salesforce clients used by the flows (pipeline code: never imports the sandbox)."""
