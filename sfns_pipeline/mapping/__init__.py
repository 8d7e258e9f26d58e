"""Pure transforms between Salesforce and NetSuite records (pydantic models in, payloads out; no I/O)."""
