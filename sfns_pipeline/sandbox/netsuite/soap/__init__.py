"""NetSuite SuiteTalk SOAP for the sandbox: the WSDL/XSD subset, envelope and faults, records, the endpoint."""
